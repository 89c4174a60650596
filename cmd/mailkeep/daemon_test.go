package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/faultproxy"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// The test binary doubles as mailkeep for the daemon tests, which need a
// process to send signals to.
func init() {
	if os.Getenv("MAILKEEP_TEST_AS_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// proc is mailkeep running as a child process.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	mu      sync.Mutex
	logs    bytes.Buffer
	written chan struct{} // closed (and replaced) on every write to logs
	done    chan struct{}
	code    int
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.written)
	p.written = make(chan struct{})
	return p.logs.Write(b)
}

// logsAndNext returns the logs and a channel closed at the next write.
func (p *proc) logsAndNext() (string, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String(), p.written
}

func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{}), written: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), "MAILKEEP_TEST_AS_CLI=1")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("logs of pid %d:\n%s", p.cmd.Process.Pid, p.Logs())
		}
	})
	return p
}

// waitLog waits (in real time, bounded) for a log line holding all parts
// and returns it; it wakes on every write to the logs.
func (p *proc) waitLog(timeout time.Duration, parts ...string) string {
	p.t.Helper()
	return p.waitLogs(timeout, func(logs string) string { return lineWith(logs, parts...) }, fmt.Sprint(parts))
}

// waitLogs waits until found returns a non-empty string for the logs.
func (p *proc) waitLogs(timeout time.Duration, found func(logs string) string, what string) string {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		logs, next := p.logsAndNext()
		if l := found(logs); l != "" {
			return l
		}
		select {
		case <-next:
		case <-p.done:
			if l := found(p.Logs()); l != "" {
				return l
			}
			p.t.Fatalf("pid %d exited (%d) without logging %s", p.cmd.Process.Pid, p.code, what)
		case <-deadline:
			p.t.Fatalf("pid %d did not log %s within %v", p.cmd.Process.Pid, what, timeout)
		}
	}
}

// stop sends sig and returns the exit code and how long the exit took.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Signal(syscall.SIGQUIT) // its goroutines into the logs
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		p.t.Fatalf("pid %d did not exit within %v of %v", p.cmd.Process.Pid, timeout, sig)
	}
	return p.code, time.Since(start)
}

// bigMailbox is a server with n messages for alice, behind a proxy whose
// first connection stalls three quarters through the bytes (past the
// backup's first checkpoint at 500 messages), and a config whose
// job "nightly" backs alice up every second.
type bigMailbox struct {
	*rjEnv
	proxy *faultproxy.Proxy
	total int
}

func newBigMailbox(t *testing.T, n int) *bigMailbox {
	t.Helper()
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser("alice", "pw-alice")
	var size int64
	msgs := sample.Generate(n, 7) // a few more than n: exact duplicates
	for _, m := range msgs {
		srv.AddMessage("alice", "INBOX", m.Raw, m.Flags, m.Date)
		size += int64(len(m.Raw))
	}
	px, err := faultproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	px.Set(faultproxy.Fault{Action: faultproxy.Stall, After: size * 3 / 4, Count: 1})
	_, port, _ := net.SplitHostPort(px.Addr())
	e := &rjEnv{srv: srv, dir: t.TempDir(), port: port}
	e.archive = filepath.Join(e.dir, "archive")
	t.Setenv("RJ_PW_ALICE", "pw-alice")
	e.writeConfig(t, fmt.Sprintf(`archive: %s
accounts:
  alice:
    imap: {host: 127.0.0.1, port: %s, security: none, timeout: 2m}
    username: alice
    password_env: RJ_PW_ALICE
jobs:
  nightly: {schedule: "@every 1s", backup: [alice]}
`, e.archive, port))
	return &bigMailbox{rjEnv: e, proxy: px, total: len(msgs)}
}

func (b *bigMailbox) waitStalled(t *testing.T) {
	t.Helper()
	select {
	case <-b.proxy.Stalled():
	case <-time.After(60 * time.Second):
		t.Fatal("the backup never reached the stall")
	}
}

// archived returns the number of places alice's INBOX has in the archive
// and checks none is there twice.
func (b *bigMailbox) archived(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	repo, err := archive.Open(ctx, b.archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	seen := map[uint32]bool{}
	for e, err := range repo.Messages(ctx, archive.Query{Account: "alice", Folder: "INBOX"}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[e.UID] {
			t.Errorf("uid %d archived twice", e.UID)
		}
		seen[e.UID] = true
	}
	return len(seen)
}

func (b *bigMailbox) verify(t *testing.T) {
	t.Helper()
	if code, out, errs := b.cli("verify"); code != exitOK {
		t.Fatalf("verify = %d after the daemon stopped\n%s%s", code, out, errs)
	}
}

func TestDaemonSIGTERMMidBackupThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	b := newBigMailbox(t, 3000)
	d := startProc(t, "--config", b.config, "run", "--daemon")
	d.waitLog(30*time.Second, "mailkeep daemon started")
	b.waitStalled(t)
	code, took := d.stop(syscall.SIGTERM, stopTimeout+15*time.Second)
	d.waitLog(time.Second, "stopping: running jobs finish the message in flight and commit")
	if strings.Contains(d.Logs(), "running jobs did not stop in time") {
		// The daemon's safety net fired: the backup itself hung on
		// cancellation (seen: backup's fetchRange calls Client.Close
		// while go-imap's reader goroutine waits for it to take the
		// message being fetched).
		t.Errorf("the backup did not return after SIGTERM; the daemon exited after its %v stop timeout (exit %d)", stopTimeout, code)
	} else {
		if code != exitOK {
			t.Errorf("daemon exit code %d after SIGTERM, want 0", code)
		}
		if took > 10*time.Second {
			t.Errorf("daemon took %v to stop, want a few seconds", took)
		}
		d.waitLog(time.Second, "mailkeep daemon stopped")
		d.waitLog(time.Second, "job done", "job=nightly", "status=interrupted")
	}

	b.verify(t)
	partial := b.archived(t)
	if partial == 0 || partial >= b.total {
		t.Fatalf("%d of %d archived before SIGTERM, want some: the stall is not mid-backup", partial, b.total)
	}
	t.Logf("archived before SIGTERM: %d of %d; %s", partial, b.total, lineWith(d.Logs(), "account summary"))

	// The next run resumes and completes, without duplicates.
	if code, out, errs := b.cli("run", "nightly"); code != exitOK {
		t.Fatalf("the run after SIGTERM = %d\n%s%s", code, out, errs)
	}
	if got := b.archived(t); got != b.total {
		t.Errorf("after the resumed run %d of %d archived", got, b.total)
	}
	b.verify(t)
}

func TestTwoDaemonsOneArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	b := newBigMailbox(t, 1000)
	a := startProc(t, "--config", b.config, "run", "--daemon")
	b.waitStalled(t) // A holds the archive's lock, stuck mid-backup
	// B waits for the lock (the daemon default), and says who holds it.
	d2 := startProc(t, "--config", b.config, "run", "--daemon", "--log-format", "json")
	l := d2.waitLog(30*time.Second, "archive locked by another process; waiting for it")
	if !strings.Contains(l, fmt.Sprintf("pid %d", a.cmd.Process.Pid)) || !strings.Contains(l, `"job":"nightly"`) {
		t.Errorf("B's log does not name A (pid %d) and the job: %s", a.cmd.Process.Pid, l)
	}
	// Meanwhile B's own next runs do not pile up behind the waiting one.
	d2.waitLog(10*time.Second, "run skipped: the previous run is still going", `"job":"nightly"`)

	// (How fast a daemon stops is TestDaemonSIGTERMMidBackupThenResume's.)
	if code, _ := a.stop(syscall.SIGTERM, stopTimeout+15*time.Second); code != exitOK && code != exitInterrupted {
		t.Errorf("A exit code %d, want 0", code)
	}
	// With A gone B gets the lock and completes the backup (the proxy
	// stalls only the first connection).
	d2.waitLog(60*time.Second, `"msg":"job done"`, `"status":"ok"`)
	if code, _ := d2.stop(syscall.SIGTERM, 20*time.Second); code != exitOK {
		t.Errorf("B exit code %d, want 0", code)
	}
	if got := b.archived(t); got != b.total {
		t.Errorf("%d of %d archived", got, b.total)
	}
	b.verify(t)
}

func TestDaemonSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	e := newRJEnv(t, []string{"alice"}, 3, "jobs:\n  often: {schedule: \"@every 1s\", backup: [alice]}\n")
	good, _ := os.ReadFile(e.config)
	d := startProc(t, "--config", e.config, "run", "--daemon")
	d.waitLog(30*time.Second, "job done", "job=often", "status=ok")

	// A broken config: reported, the old one kept, jobs go on.
	os.WriteFile(e.config, []byte(strings.Replace(string(good), "@every 1s", "every second", 1)), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(10*time.Second, "level=ERROR", "config reload failed; keeping the previous config", "jobs.often.schedule")
	n := strings.Count(d.Logs(), "job=often status=ok")
	d.waitLogs(20*time.Second, func(logs string) string {
		if strings.Count(logs, "job=often status=ok") > n+1 {
			return "ran"
		}
		return ""
	}, "two more runs of the job after a broken config")

	// A good config with another job: picked up.
	os.WriteFile(e.config, []byte(strings.Replace(string(good), "often:", "renamed:", 1)), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(10*time.Second, "config reloaded")
	d.waitLog(10*time.Second, "scheduled jobs", "renamed (@every 1s")
	d.waitLog(30*time.Second, "job done", "job=renamed", "status=ok")
	if code, _ := d.stop(syscall.SIGTERM, 20*time.Second); code != exitOK {
		t.Errorf("exit code %d", code)
	}
}
