package mailfmt

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes for the test (root only), so
// that a full disk is a real ENOSPC from the kernel.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

func TestWritersOnFullDisk(t *testing.T) {
	for _, format := range []Format{Maildir, Mbox, EML} {
		t.Run(string(format), func(t *testing.T) {
			dir := smallDisk(t, 1<<20)
			w, err := NewWriter(format, dir)
			if err != nil {
				t.Fatal(err)
			}
			body := bytes.Repeat([]byte("Subject: filler\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"), 1600) // ~100 KB
			var werr error
			written := 0
			for i := 0; i < 100; i++ {
				_, werr = w.Add(Folder{Name: "INBOX"}, &Message{Body: bytes.NewReader(body), Size: int64(len(body)),
					Date: time.Unix(int64(1e9+i), 0), ID: fmt.Sprint(i)})
				if werr != nil {
					break
				}
				written++
			}
			if !DiskFull(werr) {
				t.Fatalf("Add() on a full disk = %v, want an error DiskFull recognises", werr)
			}
			w.Abort()
			// Nothing half-written: every file left is a complete message
			// (Maildir, eml) and no temporary file remains.
			var files []string
			filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
				if err == nil && e.Type().IsRegular() {
					files = append(files, p)
				}
				return nil
			})
			for _, p := range files {
				name := filepath.Base(p)
				if strings.Contains(name, ".tmp") || filepath.Base(filepath.Dir(p)) == "tmp" {
					t.Errorf("temporary file left behind: %s", p)
				}
				if b, _ := os.ReadFile(p); format != Mbox && !bytes.Equal(b, body) {
					t.Errorf("%s: %d bytes, not the complete message", p, len(b))
				}
			}
			if format != Mbox && len(files) != written {
				t.Errorf("%d files for %d messages written", len(files), written)
			}
			if format == Mbox && len(files) != 0 {
				t.Errorf("files after aborting the only mbox: %v, want none", files)
			}
		})
	}
}
