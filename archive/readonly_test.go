package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadOnlyArchive: an archive the reader cannot write to (another
// user's, with read permission; a read-only mount) can be listed, read
// and verified. As root, permissions do not stop the process itself, so
// the reader runs as nobody in a child process; otherwise the copy is
// made read-only for this process.
func TestReadOnlyArchive(t *testing.T) {
	src := t.TempDir()
	ctx := context.Background()
	r, err := Open(ctx, src, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := r.Account(ctx, "work", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	for uid := uint32(1); uid <= 20; uid++ {
		raw := []byte(fmt.Sprintf("Subject: read-only %d\r\n\r\nbody %d\r\n", uid, uid))
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uid, Hash: h, Size: int64(len(raw))})
	}
	r.RecordRun(ctx, Run{Account: "work", Kind: "backup", OK: true, Messages: 20})
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()

	// A copy another user may read but not write: directories 0555,
	// files 0444 (owned by root when run as root).
	top := t.TempDir()
	dir := filepath.Join(top, "archive")
	copyTree(t, src, dir)
	t.Cleanup(func() { chmodTree(dir, 0o755, 0o644) })
	if os.Geteuid() != 0 {
		chmodTree(dir, 0o555, 0o444)
		if err := readOnlyChecks(dir); err != nil {
			t.Fatal(err)
		}
		return
	}
	chmodTree(dir, 0o555, 0o444)
	// The test binary, where nobody can run it.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "reader.test")
	copyFileMode(t, exe, bin, 0o755)
	for d := top; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	cmd := exec.Command(bin, "-test.run=^TestReadOnlyReader$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAILKEEP_READONLY_ARCHIVE="+dir, "HOME=/")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("read-only checks passed")) {
		t.Fatalf("reader as nobody: %v\n%s", err, out)
	}
}

// TestReadOnlyReader is TestReadOnlyArchive's child process.
func TestReadOnlyReader(t *testing.T) {
	dir := os.Getenv("MAILKEEP_READONLY_ARCHIVE")
	if dir == "" {
		t.Skip("run by TestReadOnlyArchive")
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o600); err == nil {
		t.Fatal("the archive is writable by this process: the test proves nothing")
	}
	if err := readOnlyChecks(dir); err != nil {
		t.Fatal(err)
	}
	fmt.Println("read-only checks passed")
}

// readOnlyChecks does what ls, export, verify and status do.
func readOnlyChecks(dir string) error {
	ctx := context.Background()
	r, err := Open(ctx, dir, nil)
	if err != nil {
		return fmt.Errorf("Open() = %w", err)
	}
	defer r.Close()
	n := 0
	for e, err := range r.Messages(ctx, Query{Account: "work"}) {
		if err != nil {
			return fmt.Errorf("Messages() = %w", err)
		}
		raw, err := r.ReadMessage(ctx, e.Hash)
		if err != nil || !strings.Contains(string(raw), "read-only") {
			return fmt.Errorf("ReadMessage(uid %d) = %q, %v", e.UID, raw, err)
		}
		n++
	}
	if n != 20 {
		return fmt.Errorf("Messages() gave %d places, want 20", n)
	}
	if st, err := r.Stats(ctx, ""); err != nil || len(st) != 1 || st[0].Messages != 20 {
		return fmt.Errorf("Stats() = %+v, %v", st, err)
	}
	if runs, err := r.Runs(ctx, "work", 1); err != nil || len(runs) != 1 {
		return fmt.Errorf("Runs() = %+v, %v", runs, err)
	}
	if _, err := r.Ledger(ctx, "t", "INBOX", 1); err != nil {
		return fmt.Errorf("Ledger() = %w", err)
	}
	res, err := r.Verify(ctx, "", nil)
	if err != nil || !res.OK() || res.Checked != 20 {
		return fmt.Errorf("Verify() = %+v, %v", res, err)
	}
	return nil
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		copyFileMode(t, p, dst, 0o644)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFileMode(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	os.Chmod(to, mode)
}

func chmodTree(dir string, dmode, fmode os.FileMode) {
	var dirs []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if info.IsDir() {
			dirs = append(dirs, p)
		} else {
			os.Chmod(p, fmode)
		}
		return nil
	})
	// Deepest first, so that a directory made read-only does not stop
	// the walk (it does not for root; it does for others).
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chmod(dirs[i], dmode)
	}
}
