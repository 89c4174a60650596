package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// interruptMidBackup runs mailkeep args as a child process against a
// mailbox whose server stalls mid-backup, sends sig once it stalls, and
// returns the exit code and standard error.
func interruptMidBackup(t *testing.T, b *bigMailbox, sig syscall.Signal, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], append([]string{"--config", b.config}, args...)...)
	cmd.Env = append(os.Environ(), "MAILKEEP_TEST_AS_CLI=1")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.waitStalled(t)
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("mailkeep %v did not stop within 30s of %v\n%s", args, sig, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// An interrupt is not a failure (issue 14 item 4): exit 130, one line on
// standard error, the run recorded as interrupted, shown so by status,
// and counted toward neither back-off nor "failed in a row".
func TestInterruptIsNotAFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"backup SIGINT", syscall.SIGINT, []string{"backup"}},
		{"run SIGTERM", syscall.SIGTERM, []string{"-q", "run", "nightly"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBigMailbox(t, 1000)
			code, stderr := interruptMidBackup(t, b, tc.sig, tc.args...)
			if code != exitInterrupted {
				t.Errorf("exit %d, want 130\n%s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "mailkeep: interrupted: ") {
				t.Errorf("stderr = %q, want one line 'mailkeep: interrupted: ...'", stderr)
			}
			runs := b.runs(t)
			if len(runs) == 0 {
				t.Fatal("the interrupted run was not recorded")
			}
			last := runs[len(runs)-1]
			if !last.Interrupted() {
				t.Errorf("recorded run %+v, want error %q", last, archive.RunInterrupted)
			}
			repo, err := archive.Open(context.Background(), b.archive, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, _, err := repo.JobFailures(context.Background(), "alice", last.Job)
			h, herr := repo.Health(context.Background(), "alice")
			repo.Close()
			if err != nil || herr != nil || n != 0 || h.Failures != 0 || h.LastFailure != nil {
				t.Errorf("after the interrupt: %d job failures, health %+v (%v %v); want no failure", n, h, err, herr)
			}
			code, out, errs := b.cli("status", "alice")
			if !strings.Contains(out, "last backup interrupted") || strings.Contains(out, "failed backups in a row") || strings.Contains(out, "FAILING") {
				t.Errorf("status = %d %q %q, want the interruption shown and no failure", code, out, errs)
			}
		})
	}
}
