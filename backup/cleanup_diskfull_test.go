package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// TestCleanupStopsOnArchiveFailure fills the archive's disk between the
// backup and the deletions: cleanup must stop with the archive's error,
// delete nothing, and not reconnect to the server (a full disk is not the
// network's fault; it used to retry, taking ENOSPC for a network error).
func TestCleanupStopsOnArchiveFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("MAILKEEP_REQUIRE_DOVECOT") == "1" {
			t.Fatalf("cannot mount a tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })

	b := newMemBackend(t, nil)
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, err := archive.Open(context.Background(), filepath.Join(dir, "archive"), &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	a := b.account(cutoff)
	var dials atomic.Int32
	dial := a.Dial
	a.Dial = func(ctx context.Context) (*imapconn.Conn, error) {
		dials.Add(1)
		return dial(ctx)
	}
	a.Retries = 5
	a.hooks = &cleanupHooks{afterBackup: func() {
		f, err := os.Create(filepath.Join(dir, "filler"))
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				break // ENOSPC: the disk is full
			}
		}
	}}
	rec := &clRec{}
	res := Cleanup(context.Background(), repo, a, rec)
	if res.Backup == nil || res.Backup.Fatal != nil {
		t.Fatalf("backup before the cleanup: %+v", res.Backup)
	}
	var we *archive.WriteError
	if err := res.Err(); !errors.As(err, &we) {
		t.Fatalf("Cleanup() error = %v; want the archive's write error", err)
	}
	for _, e := range rec.events {
		if e.Kind == progress.Retry {
			t.Errorf("reconnected after the archive failed: %s: %v", e.Text, e.Err)
		}
	}
	if res.Deleted != 0 {
		t.Errorf("deleted %d messages with an archive that cannot record it", res.Deleted)
	}
	// Every message is still on the server.
	os.Remove(filepath.Join(dir, "filler"))
	clExpectServer(t, b, msgs, func(*clMsg) bool { return true })
	_ = old
	// One connection for the listing, one for the backup, one per folder
	// worker: no reconnects.
	if n := dials.Load(); n > 4 {
		t.Errorf("%d connections; want at most 4 (no reconnects)", n)
	}
}

// TestRetryStopsOnArchiveError: an archive write error is never retried
// against the server, whatever its text: an I/O error on a pack (a
// syscall.Errno, which also passes for a network error) used to make
// cleanup reconnect, and backup too.
func TestRetryStopsOnArchiveError(t *testing.T) {
	srv := newServer(t, nil)
	var dials atomic.Int32
	dial := func(ctx context.Context) (*imapconn.Conn, error) {
		dials.Add(1)
		return dialer(srv.Addr(), 5*time.Second)(ctx)
	}
	disk := &archive.WriteError{Err: &fs.PathError{Op: "write", Path: "/archive/00000001.pack", Err: syscall.EIO}}
	for _, tc := range []struct {
		name  string
		retry func(fn func() error) error
	}{
		{"cleanup", func(fn func() error) error {
			c := &cleaner{ctx: context.Background(), a: &CleanupAccount{Name: "acct", Dial: dial, Retries: 5, Backoff: time.Millisecond}}
			c.sess = c.newSession()
			defer c.sess.Close()
			return c.retry("clean up INBOX", fn)
		}},
		{"backup", func(fn func() error) error {
			b := &imapBackup{ctx: context.Background(), a: &IMAPAccount{Name: "acct"}, sess: newSession("acct", dial, 5, time.Millisecond, nil)}
			defer b.sess.Close()
			return b.retry("back up INBOX", fn)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dials.Store(0)
			runs := 0
			err := tc.retry(func() error { runs++; return fmt.Errorf("acct/INBOX: %w", disk) })
			if !errors.Is(err, syscall.EIO) || runs != 1 || dials.Load() != 1 {
				t.Errorf("retry() = %v after %d runs and %d dials; want the archive error after 1 run on 1 connection", err, runs, dials.Load())
			}
		})
	}
}
