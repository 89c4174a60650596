package archive

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// checkModes wants every file of the archive 0600 and every directory 0700.
func checkModes(t *testing.T, dir string) {
	t.Helper()
	n := 0
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if info.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", p, info.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if n < 6 {
		t.Fatalf("only %d files and directories checked", n)
	}
}

// TestNewArchiveModes: a new archive, made with a permissive umask, holds
// only 0600 files and 0700 directories, index.db and its -wal and -shm
// included, while the writer has it open.
func TestNewArchiveModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a")
	r, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.PutMessage(ctx, []byte("Subject: modes\r\n\r\nx\r\n"))
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.db", "index.db-wal", "index.db-shm", "lock", "data/00000001.pack", commitFile, "mailkeep-archive"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("expected %s: %v", f, err)
		}
	}
	checkModes(t, dir)
}

// TestLooseModesTightened: an archive whose directory and files are
// readable by others (made by hand, or by an older mailkeep) is made
// private when a writer opens it, with a warning.
func TestLooseModesTightened(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFixture(t, dir, 1, 2, false)
	for p, m := range map[string]os.FileMode{"": 0o755, "data": 0o775, "index.db": 0o644, "data/00000001.pack": 0o664, "mailkeep-archive": 0o644} {
		if err := os.Chmod(filepath.Join(dir, p), m); err != nil {
			t.Fatal(err)
		}
	}
	w := &warnings{}
	r, err := Open(ctx, dir, &Options{Create: true, Report: w})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkModes(t, dir)
	if len(w.list) != 1 || !strings.Contains(w.list[0], "index.db was 0644") || !strings.Contains(w.list[0], "0600") {
		t.Fatalf("warnings = %q, want one naming index.db and the new modes", w.list)
	}
	// Already private: no warning the next time.
	r.Close()
	w2 := &warnings{}
	r2, err := Open(ctx, dir, &Options{Create: true, Report: w2})
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if len(w2.list) != 0 {
		t.Fatalf("warnings on a private archive = %q", w2.list)
	}
}
