package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// TestKill9MidMigrate runs the real binary, kills it with SIGKILL while
// it is appending (twice, at random points), then lets a run finish:
// nothing is missing on the target, nothing is there twice, and one more
// run copies nothing.
func TestKill9MidMigrate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and copies a few thousand messages")
	}
	srv := dovecot.Shared(t)
	su, sp := srv.NewUser(t)
	tu, tp := srv.NewUser(t)
	by := map[string][]dovecot.Message{}
	for _, m := range sample.Generate(3000, 42) {
		by[m.Folder] = append(by[m.Folder], dovecot.Message{Raw: m.Raw, Flags: m.Flags, Date: m.Date})
	}
	for f, ms := range by {
		srv.Seed(t, su, f, ms)
	}
	sa, ta := dovecotAccount(srv, "old", su, sp), dovecotAccount(srv, "new", tu, tp)
	total := count(snapshot(t, sa))

	dir := t.TempDir()
	bin := filepath.Join(dir, "mailkeep")
	build := exec.Command("go", "build", "-o", bin, "github.com/mailkeep/mailkeep/cmd/mailkeep")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	host, port, _ := net.SplitHostPort(srv.IMAPAddr)
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
`, filepath.Join(dir, "archive"), host, port, srv.CertFile, su, host, port, srv.CertFile, tu)
	cfgPath := filepath.Join(dir, "mailkeep.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", cfgPath, "--json", "migrate", "old", "new")
		cmd.Env = append(os.Environ(), "MK_OLD_PASSWORD="+sp, "MK_NEW_PASSWORD="+tp)
		return cmd
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	killed := 0
	for attempt := 0; attempt < 2; attempt++ {
		have := targetCount(t, ta)
		if have >= total*9/10 {
			break
		}
		at := have + 1 + rng.IntN((total*9/10-have)/2+1)
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
			case <-time.After(20 * time.Millisecond):
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
			t.Fatalf("after the kill the target holds %d messages, the source %d", n, total)
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
			t.Errorf("summary %v: want %d in source and on target", sum, total)
		}
		if wantCopied >= 0 && sum["copied"] != float64(wantCopied) {
			t.Errorf("run %d copied %v, want %d", i, sum["copied"], wantCopied)
		}
	}
	compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{zoneLost: true})
}

func targetCount(t *testing.T, a account) int {
	t.Helper()
	c, err := a.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ls, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range ls {
		if l.Status != nil && l.Status.NumMessages != nil {
			n += int(*l.Status.NumMessages)
		}
	}
	return n
}

func summary(t *testing.T, out string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == "summary" {
			return m
		}
	}
	t.Fatalf("no summary in the output:\n%s", out)
	return nil
}
