package backup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// TestFullDisk backs up onto a tmpfs too small for the mailbox: the
// backup must stop with a clear error, the archive must verify, and after
// the disk grows the next run must finish with nothing lost.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("MAILKEEP_REQUIRE_DOVECOT") == "1" {
			t.Fatalf("cannot mount a tmpfs for the full-disk test: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })

	srv := newServer(t, nil)
	for i, m := range sample.Generate(300, 5) {
		// Incompressible filler so 3 MB fill up.
		raw := append([]byte{}, m.Raw...)
		noise := make([]byte, 40<<10)
		for j := range noise {
			noise[j] = byte((j*7919 + i*104729) >> 3)
		}
		raw = append(raw, noise...)
		srv.AddMessage(testUser, m.Folder, raw, m.Flags, m.Date)
	}
	repoDir := dir + "/archive"
	repo, err := archive.Open(context.Background(), repoDir, &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(srv.Addr(), 5*time.Second), Backoff: time.Millisecond}, nil)
	repo.Close()
	if res.OK() {
		t.Fatalf("backup onto a full disk succeeded")
	}
	err = res.Err()
	var we *archive.WriteError
	if !errors.As(err, &we) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error = %v; want an archive write error saying the disk is full", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %s to give up; a full disk is not worth retrying", time.Since(start))
	}
	// The archive is valid as it stands.
	ro, err := archive.Open(context.Background(), repoDir, nil)
	if err != nil {
		t.Fatalf("open after the full disk: %v", err)
	}
	v, err := ro.Verify(context.Background(), "", nil)
	ro.Close()
	if err != nil || !v.OK() {
		t.Fatalf("Verify() after the full disk = %+v, %v", v, err)
	}
	// More room: the next run finishes and nothing is missing.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	repo = openRepo(t, repoDir)
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	compare(t, repo, srv)
}
