package archive

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// upgradeKillPoints are where TestUpgradeKilled kills the upgrading
// writer: "step:NAME" at a named step of the upgrade (the child kills
// itself there), "line:TEXT" when the child's progress says TEXT (the
// parent kills it then, wherever it has got to: "converted" comes before
// VACUUM, so inside it, or past it, or done).
var upgradeKillPoints = []string{
	"step:renamed", "step:blobs", "step:missing", "step:flagsets", "step:messages", "step:before-commit",
	"step:committed", "step:vacuumed", "step:checkpointed",
	"line:upgrade: converted", "line:upgrade: blobs", "line:upgrade: messages",
}

// TestUpgradeKilled: kill -9 of the upgrading writer at random points
// leaves version 1 or version 2, both valid and readable, and the next
// writer completes the upgrade with every message present.
func TestUpgradeKilled(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	points := append([]string(nil), upgradeKillPoints...)
	if p := os.Getenv("MAILKEEP_UPGRADE_POINT"); p != "" {
		points = []string{p, p, p, p, p, p, p, p}
	}
	rnd.Shuffle(len(points), func(i, j int) { points[i], points[j] = points[j], points[i] })
	outcomes := map[int]int{}
	for i, point := range points[:8] {
		t.Run(fmt.Sprintf("%d-%s", i, strings.NewReplacer(":", "-", " ", "-").Replace(point)), func(t *testing.T) {
			v := killUpgrade(t, point)
			t.Logf("%s left version %d", point, v)
			outcomes[v]++
		})
	}
	t.Logf("left at version: %v", outcomes)
}

// killUpgrade runs one kill and checks the archive; it returns the
// format version the kill left.
func killUpgrade(t *testing.T, point string) int {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeV1Fixture(t, dir, 2000)
	cmd := exec.Command(os.Args[0], "-test.run=^TestUpgradeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAILKEEP_UPGRADE_ARCHIVE="+dir, "MAILKEEP_UPGRADE_KILL="+point)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		got = append(got, sc.Text())
		if text, ok := strings.CutPrefix(point, "line:"); ok && strings.HasPrefix(sc.Text(), "progress "+text) {
			cmd.Process.Kill() // SIGKILL
		}
	}
	err = cmd.Wait()
	killed := false
	if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
		killed = true
	} else if !strings.HasPrefix(point, "line:") || !strings.Contains(strings.Join(got, "\n"), "not killed") {
		t.Fatalf("upgrading writer was not killed at %s: %v\n%s\n%s", point, err, strings.Join(got, "\n"), stderr.String())
	}

	// What the kill left: version 1 or 2, sound, every place there.
	raw := readRaw(t, dir)
	v, err := indexVersion(ctx, raw)
	if err != nil || (v != 1 && v != 2) {
		t.Fatalf("killed at %s (killed %v): format_version %d, %v", point, killed, v, err)
	}
	if probs, err := integrityCheck(ctx, raw); err != nil || len(probs) > 0 {
		t.Fatalf("killed at %s: version %d index fails its check: %v %v", point, v, probs, err)
	}
	var places, blobs, aside int
	raw.QueryRow(`SELECT count(*) FROM messages`).Scan(&places)
	raw.QueryRow(`SELECT count(*) FROM blobs`).Scan(&blobs)
	raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'v1%'`).Scan(&aside)
	wantBlobs := map[int]int{1: fx.blobs, 2: fx.blobs + 1}[v] // version 2 has a row for the missing message
	if places != len(fx.places) || blobs != wantBlobs || aside != 0 {
		t.Fatalf("killed at %s: version %d with %d places, %d blobs, %d v1 tables aside; want %d, %d, 0", point, v, places, blobs, aside, len(fx.places), wantBlobs)
	}
	raw.Close()
	ro, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatalf("killed at %s: read-only Open() of the version %d left = %v", point, v, err)
	}
	if n := len(listAll(t, ro)); n != len(fx.places)-1 {
		t.Fatalf("killed at %s: a reader of version %d lists %d places, want %d", point, v, n, len(fx.places)-1)
	}
	ro.Close()

	// The next writer finishes the job.
	r, err := Open(ctx, dir, &Options{})
	if err != nil {
		t.Fatalf("killed at %s: next writer Open() = %v", point, err)
	}
	defer r.Close()
	byID := map[int64]v1Place{}
	for _, p := range fx.places {
		byID[p.id] = p
	}
	n := 0
	for e, err := range r.Messages(ctx, Query{IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		p := byID[e.ID]
		if raw, err := r.ReadMessage(ctx, e.Hash); err != nil || !bytes.Equal(raw, fx.raw[p.msg]) || JoinFlags(e.Flags) != p.flags {
			t.Fatalf("killed at %s, upgraded again: place %d (%s) is not as it was: %v", point, e.ID, p.msg, err)
		}
		n++
	}
	if n != len(fx.places)-1 {
		t.Fatalf("killed at %s, upgraded again: %d places listed, want %d", point, n, len(fx.places)-1)
	}
	if v, err := indexVersion(ctx, r.rdb); err != nil || v != 2 {
		t.Fatalf("killed at %s, upgraded again: format_version %d, %v", point, v, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mailkeep-archive")); string(b) != formatMarker {
		t.Fatalf("killed at %s, upgraded again: marker %q", point, b)
	}
	if res, err := r.Verify(ctx, "", nil); err != nil || res.Checked != int64(fx.blobs) || len(res.Damaged)+len(res.Packs)+len(res.Index) != 0 || len(res.Missing) != 1 {
		t.Fatalf("killed at %s, upgraded again: Verify() = %+v, %v", point, res, err)
	}
	return v
}

// TestUpgradeChild is TestUpgradeKilled's child: it opens a version 1
// archive as a writer (which upgrades it) and is killed on the way.
func TestUpgradeChild(t *testing.T) {
	dir := os.Getenv("MAILKEEP_UPGRADE_ARCHIVE")
	if dir == "" {
		t.Skip("run by TestUpgradeKilled")
	}
	point := os.Getenv("MAILKEEP_UPGRADE_KILL")
	testHookUpgrade = func(step string) {
		fmt.Println("step", step)
		if point == "step:"+step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	r, err := Open(context.Background(), dir, &Options{Report: progress.Func(func(e progress.Event) { fmt.Println("progress", e.Text) })})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	fmt.Println("not killed")
}
