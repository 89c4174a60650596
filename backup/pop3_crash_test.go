package backup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

// The POP3 kill test's child: with MAILKEEP_POP3_CRASH_CHILD set, the
// test binary backs the maildrop up with delete: true and exits, unless
// killed first. (TestMain belongs to crash_test.go; init runs before it.)
func init() {
	if addr := os.Getenv("MAILKEEP_POP3_CRASH_CHILD"); addr != "" {
		os.Exit(pop3CrashChild(addr, os.Getenv("MAILKEEP_POP3_CRASH_DIR")))
	}
}

func pop3CrashChild(addr, dir string) int {
	ctx := context.Background()
	repo, err := archive.Open(ctx, dir, &archive.Options{Create: true, LockWait: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tg := &pop3Target{addr: addr, user: testUser, pass: testPass}
	res := POP3(ctx, repo, &POP3Account{Name: "isp", Dial: tg.dial(5 * time.Second), Delete: true, CommitEvery: 10}, nil)
	repo.Close()
	if !res.OK() {
		fmt.Fprintln(os.Stderr, res.Err())
		return 1
	}
	return 0
}

// TestPOP3KillDuringBackup kills a backup with delete: true at random
// moments and at the worst ones: while it sends DELE, when its QUIT
// arrives (the server then commits nothing), and just after the server
// committed a QUIT. After every kill the archive verifies; in the end
// every message ever delivered is archived exactly once, the maildrop is
// empty, and nothing was lost.
func TestPOP3KillDuringBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	var mu sync.Mutex
	var child *os.Process
	mode := ""
	killed := map[string]int{}
	kill := func(at string) {
		mu.Lock()
		defer mu.Unlock()
		if child != nil && mode == at {
			child.Signal(syscall.SIGKILL)
			killed[at]++
			mode = ""
		}
	}
	hooks := pop3srv.Hooks{Command: func(c pop3srv.Call) *pop3srv.Fault {
		switch c.Verb {
		case "DELE":
			mu.Lock()
			m := mode
			mu.Unlock()
			if m == "dele" {
				kill("dele")
				return &pop3srv.Fault{Drop: true}
			}
		case "QUIT":
			mu.Lock()
			m := mode
			mu.Unlock()
			switch m {
			case "quit":
				kill("quit")
				return &pop3srv.Fault{Drop: true}
			case "after-quit":
				// Let the server commit and answer, then kill.
				go func() { time.Sleep(time.Millisecond); kill("after-quit") }()
			}
		}
		return nil
	}}
	tg := newPOP3Srv(t, &pop3srv.Options{Hooks: hooks})
	delivered := map[string][]byte{}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	modes := []string{"random", "dele", "quit", "after-quit"}
	for round := 0; round < 12; round++ {
		for i, raw := range ordinary(60, uint64(200+round)) {
			if i%8 == 0 {
				raw = append(raw, bytesN(150<<10, byte('a'+i%26))...)
			}
			uid := fmt.Sprintf("r%d-%d", round, i)
			tg.srv.AddMessage(testUser, uid, raw)
			delivered[uid] = raw
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "MAILKEEP_POP3_CRASH_CHILD="+tg.addr, "MAILKEEP_POP3_CRASH_DIR="+dir)
		m := modes[round%len(modes)]
		mu.Lock()
		mode = m
		if err := cmd.Start(); err != nil {
			mu.Unlock()
			t.Fatal(err)
		}
		child = cmd.Process
		mu.Unlock()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var timer <-chan time.Time
		if m == "random" {
			timer = time.After(time.Duration(5+rng.IntN(120)) * time.Millisecond)
		}
		select {
		case err := <-done:
			mu.Lock()
			wasKilled := mode == ""
			mu.Unlock()
			if err != nil && !wasKilled {
				t.Fatalf("round %d: child failed: %v", round, err)
			}
		case <-timer:
			kill("random")
			<-done
		}
		mu.Lock()
		child, mode = nil, ""
		mu.Unlock()
		repo, err := archive.Open(context.Background(), dir, &archive.Options{Create: true})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		v, err := repo.Verify(context.Background(), "", nil)
		repo.Close()
		if err != nil || !v.OK() {
			t.Fatalf("round %d (%s): Verify() = %+v, %v", round, m, v, err)
		}
	}
	t.Logf("kills: %v", killed)
	for _, m := range []string{"dele", "quit", "after-quit"} {
		if killed[m] == 0 {
			t.Errorf("no kill at %s happened", m)
		}
	}
	repo := openRepo(t, dir)
	res, _ := pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
	if !res.OK() {
		t.Fatal(res.Err())
	}
	if left := tg.srv.Maildrop(testUser); len(left) != 0 {
		t.Fatalf("%d messages left on the server", len(left))
	}
	places := archived(t, repo, "isp", true)
	distinct := map[archive.Hash]bool{}
	for uid, raw := range delivered {
		h := archive.HashBytes(pop3srv.ClientBytes(raw))
		distinct[h] = true
		e := places[uid]
		switch {
		case e == nil:
			t.Errorf("%s: delivered, deleted from the server, not archived", uid)
		case e.Hash != h:
			t.Errorf("%s: archived with the wrong bytes", uid)
		case e.GoneSince.IsZero():
			t.Errorf("%s: off the server but not marked gone", uid)
		}
	}
	tot, _ := repo.Totals(context.Background())
	if tot.Places != int64(len(delivered)) || tot.Blobs != int64(len(distinct)) {
		t.Errorf("archive: %d places, %d blobs; want %d and %d", tot.Places, tot.Blobs, len(delivered), len(distinct))
	}
	if v, err := repo.Verify(context.Background(), "", nil); err != nil || !v.OK() {
		t.Fatalf("final Verify() = %+v, %v", v, err)
	}
}
