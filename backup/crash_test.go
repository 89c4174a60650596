package backup

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// TestMain doubles as the crash test's child: with MAILKEEP_CRASH_CHILD
// set it backs up and exits, unless killed first.
func TestMain(m *testing.M) {
	if addr := os.Getenv("MAILKEEP_CRASH_CHILD"); addr != "" {
		os.Exit(crashChild(addr, os.Getenv("MAILKEEP_CRASH_DIR")))
	}
	code := m.Run()
	dovecot.StopShared()
	os.Exit(code)
}

func crashChild(addr, dir string) int {
	ctx := context.Background()
	repo, err := archive.Open(ctx, dir, &archive.Options{Create: true, LockWait: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// One line per stored message tells the parent how far the run got.
	rep := reporterFunc(func(e progress.Event) {
		if e.Kind == progress.Item {
			os.Stdout.WriteString("item\n")
		}
	})
	res := IMAP(ctx, repo, &IMAPAccount{Name: "acct", Dial: dialer(addr, 5*time.Second), CommitEvery: 25}, rep)
	repo.Commit(ctx)
	repo.Close()
	if !res.OK() {
		fmt.Fprintln(os.Stderr, res.Err())
		return 1
	}
	return 0
}

func TestKillDuringBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	srv := newServer(t, nil)
	seed(srv, 300)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	kills := 0
	var committed int64
	for round := 0; round < 8; round++ {
		// Fresh mail every round, some of it heavy, so that each kill
		// lands in the middle of real work.
		for i, m := range sample.Generate(150, uint64(100+round)) {
			raw := m.Raw
			if i%10 == 0 {
				raw = append(append([]byte{}, m.Raw...), make([]byte, 200<<10)...)
				for j := len(m.Raw); j < len(raw); j++ {
					raw[j] = "abcdefghij\r\n"[(i+j)%12]
				}
			}
			srv.AddMessage(testUser, m.Folder, raw, m.Flags, m.Date)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "MAILKEEP_CRASH_CHILD="+srv.Addr(), "MAILKEEP_CRASH_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of stored messages: mid-stream, at
		// or between checkpoints, wherever that lands.
		killAt := 1 + rng.IntN(140)
		sc := bufio.NewScanner(out)
		seen := 0
		for seen < killAt && sc.Scan() {
			seen++
		}
		if seen == killAt {
			cmd.Process.Signal(syscall.SIGKILL)
			kills++
		}
		io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil && seen < killAt {
			t.Fatalf("round %d: child failed before the kill: %v", round, err)
		}
		// After every kill the archive opens (cutting any uncommitted
		// tail) and verifies.
		repo, err := archive.Open(context.Background(), dir, &archive.Options{Create: true})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		v, err := repo.Verify(context.Background(), "", nil)
		tot, _ := repo.Totals(context.Background())
		committed = tot.Places
		repo.Close()
		if err != nil || !v.OK() {
			t.Fatalf("round %d: Verify() after a kill at message %d = %+v, %v", round, seen, v, err)
		}
	}
	t.Logf("killed the backup %d times; %d places committed before the final run", kills, committed)
	if committed == 0 {
		t.Fatalf("no kill landed after a checkpoint; the test did not exercise resuming")
	}
	if kills < 6 {
		t.Fatalf("only %d of 8 rounds were killed mid-run; the test did not exercise recovery", kills)
	}
	repo := openRepo(t, dir)
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	n := compare(t, repo, srv)
	// Nothing stored twice: one blob per distinct message, one place per
	// message on the server.
	distinct := map[archive.Hash]bool{}
	for _, mb := range srv.Mailboxes(testUser) {
		for _, m := range srv.Messages(testUser, mb.Name) {
			distinct[archive.HashBytes(m.Raw)] = true
		}
	}
	tot, _ := repo.Totals(context.Background())
	if tot.Blobs != int64(len(distinct)) || tot.Places != int64(n) {
		t.Fatalf("archive holds %d blobs and %d places; server has %d distinct messages in %d places", tot.Blobs, tot.Places, len(distinct), n)
	}
	if v, err := repo.Verify(context.Background(), "", nil); err != nil || !v.OK() {
		t.Fatalf("final Verify() = %+v, %v", v, err)
	}
}
