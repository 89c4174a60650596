package restore

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/cyrus"
	"github.com/mailkeep/mailkeep/internal/dovecot"
)

// TestKill9MidMigrateIntoCyrus (issue 12, defect 2): migrate mail whose
// headers carry raw 8-bit bytes (Cyrus stores them as "X") and that has no
// unique Message-ID (none, or one shared by many) into Cyrus, kill -9 the
// migration three times while it appends, then let runs finish: the
// target holds every message exactly once, the altered copies are named,
// and one more run copies nothing.
func TestKill9MidMigrateIntoCyrus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and copies a thousand messages")
	}
	dst := cyrus.Shared(t, cyrus.LayoutDebian)
	src := dovecot.Shared(t)
	su, sp := src.NewUser(t)
	tu, tp := dst.NewUser(t)
	const total = 1000
	raws, altered := mungedCorpus(total)
	var msgs []dovecot.Message
	for i, raw := range raws {
		msgs = append(msgs, dovecot.Message{Raw: raw, Date: time.Date(2020, 1, 1, 0, 0, i, 0, time.UTC)})
	}
	src.Seed(t, su, "INBOX", msgs)
	ta := account{name: "new", addr: dst.IMAPAddr, user: tu, pass: tp}

	dir := t.TempDir()
	bin := filepath.Join(dir, "mailkeep")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/mailkeep/mailkeep/cmd/mailkeep").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sh, spt, _ := net.SplitHostPort(src.IMAPAddr)
	th, tpt, _ := net.SplitHostPort(dst.IMAPAddr)
	cfg := fmt.Sprintf(`archive: %s
accounts:
  old:
    imap: {host: %s, port: %s, security: starttls, ca_file: %s}
    username: %s
    password_env: MK_OLD_PASSWORD
  new:
    imap: {host: %s, port: %s, security: starttls, ca_file: %s}
    username: %s
    password_env: MK_NEW_PASSWORD
    connections: 3
`, filepath.Join(dir, "archive"), sh, spt, src.CertFile, su, th, tpt, dst.CertFile, tu)
	cfgPath := filepath.Join(dir, "mailkeep.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", cfgPath, "--json", "migrate", "old", "new")
		cmd.Env = append(os.Environ(), "MK_OLD_PASSWORD="+sp, "MK_NEW_PASSWORD="+tp)
		return cmd
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	killed := 0
	for attempt := 0; attempt < 3; attempt++ {
		have := targetCount(t, ta)
		if have >= total*9/10 {
			break
		}
		at := have + 1 + rng.IntN((total*9/10-have)/3+1)
		cmd := run()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.Now().Add(2 * time.Minute)
	wait:
		for {
			select {
			case err := <-done:
				t.Logf("run %d ended before the kill (at %d of %d): %v", attempt, at, total, err)
				break wait
			case <-time.After(10 * time.Millisecond):
			}
			if n := targetCount(t, ta); n >= at || time.Now().After(deadline) {
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				killed++
				t.Logf("killed run %d with %d of %d messages on the target", attempt, n, total)
				break
			}
		}
		if n := targetCount(t, ta); n > total {
			t.Fatalf("after kill %d the target holds %d messages, the source %d", attempt, n, total)
		}
	}
	if killed == 0 {
		t.Fatalf("no run was killed mid-way")
	}
	for i, wantCopied := range []int{-1, 0} {
		cmd := run()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("run %d after the kills: %v\n%s\n%s", i, err, stdout.String(), stderr.String())
		}
		sum := summary(t, stdout.String())
		if sum["in_source"] != float64(total) || sum["on_target"] != float64(total) {
			t.Errorf("run %d: summary %v: want %d in source and on target", i, sum, total)
		}
		if wantCopied >= 0 && sum["copied"] != float64(wantCopied) {
			t.Errorf("run %d copied %v, want %d", i, sum["copied"], wantCopied)
		}
		if i == 0 && (sum["altered"] == nil || sum["altered"].(float64) == 0) {
			t.Errorf("run %d: summary says nothing was altered: %v", i, sum)
		}
	}
	// Every source message is there exactly once, as Cyrus stores it.
	want := map[archive.Hash]int{}
	for _, raw := range raws {
		want[archive.HashBytes(cyrus.Munged(raw))]++
	}
	got := map[archive.Hash]int{}
	c, err := ta.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ms := map[uint32]*foreignMsg{}
	uids, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	var set imap.UIDSet
	for _, u := range uids.AllUIDs() {
		ms[uint32(u)] = &foreignMsg{uid: uint32(u)}
		set.AddNum(u)
	}
	if err := fetchHashes(c.Client, set, ms); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		got[m.hash]++
	}
	if len(ms) != total {
		ls, _ := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
		for _, l := range ls {
			t.Logf("target folder %q: %+v", l.Mailbox, l.Status)
		}
		t.Errorf("target INBOX holds %d messages, want %d", len(ms), total)
	}
	dups := 0
	for h, n := range want {
		if got[h] != n {
			t.Errorf("message %s: target has it %d times, source %d", h.String()[:12], got[h], n)
			if got[h] > n {
				dups += got[h] - n
			}
		}
	}
	t.Logf("%d messages, %d with 8-bit headers; %d kills; %d duplicates", total, altered, killed, dups)
}
