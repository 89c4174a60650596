package restore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/restore"
)

// TestExportHostileFolderNames: an archive whose server named folders
// "/", ".", "..", "a/../../b", with NUL, newline and escape sequences,
// names that differ only in case and names that collide once mapped,
// exports in every format without writing a byte outside --out, one file
// or directory per folder, and imports back with nothing lost or new.
func TestExportHostileFolderNames(t *testing.T) {
	names := []struct {
		name, delim string
	}{
		{"INBOX", "/"}, {"/", "/"}, {".", "."}, {"..", "/"}, {"x..y", "."}, {"a/../../b", "/"}, {"../../victim/x", "/"},
		{"x\x00y", "/"}, {"new\nline", "/"}, {"\x1b]0;t\x07", "/"}, {"Sent", "/"}, {"sent", "/"}, {"SENT", "/"},
		{"a%2Fb", "/"}, {"a/b", "/"}, {"a.b", "/"}, {"p.q/r", "."}, {"cur", "/"}, {"x.sbd/y", "/"}, {string(make([]byte, 300)), "/"},
		{"L" + fmt.Sprintf("%0300d", 7), "/"},
	}
	ctx := context.Background()
	repo, err := archive.Open(ctx, t.TempDir(), &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	acct, err := repo.Account(ctx, "evil", "imap")
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		f, err := repo.Folder(ctx, acct, n.name)
		if err != nil {
			t.Fatalf("folder %q: %v", n.name, err)
		}
		f.Delimiter, f.UIDValidity = n.delim, 1
		if err := repo.UpdateFolder(ctx, f); err != nil {
			t.Fatal(err)
		}
		raw := []byte(fmt.Sprintf("Subject: folder %d\r\n\r\nbody %d\r\n", i, i))
		h, _, err := repo.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.AddMessage(ctx, &archive.Message{Folder: f.ID, UIDValidity: 1, UID: 1, Hash: h, Size: int64(len(raw)),
			InternalDate: time.Date(2021, 1, 1+i, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, format := range []mailfmt.Format{mailfmt.Maildir, mailfmt.Mbox, mailfmt.EML} {
		t.Run(string(format), func(t *testing.T) {
			base := t.TempDir()
			out, victim := filepath.Join(base, "out"), filepath.Join(base, "victim")
			os.Mkdir(victim, 0o700)
			res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "evil", Format: format, Out: out}, nil)
			if testing.Verbose() || res.Messages != int64(len(names)) {
				for _, f := range res.Folders {
					t.Logf("%q -> %q", f.Name, f.Path)
				}
			}
			if !res.OK() || res.Messages != int64(len(names)) {
				t.Fatalf("Export() = %d messages, %v; want %d", res.Messages, res.Err(), len(names))
			}
			if ents, _ := os.ReadDir(victim); len(ents) != 0 {
				t.Errorf("written beside --out: %v", ents)
			}
			if ents, _ := os.ReadDir(base); len(ents) != 2 {
				t.Errorf("%s holds %d entries, want out and victim", base, len(ents))
			}
			paths := map[string]string{}
			for _, f := range res.Folders {
				if other, dup := paths[f.Path]; dup {
					t.Errorf("%q and %q both went to %q", other, f.Name, f.Path)
				}
				paths[f.Path] = f.Name
			}
			ir := backup.Import(ctx, repo, &backup.ImportOptions{Account: "back-" + string(format), From: out}, nil)
			if !ir.OK() || ir.New != 0 || ir.Dup != int64(len(names)) {
				t.Errorf("Import() = %d new, %d dup, %v; want all %d already archived", ir.New, ir.Dup, ir.Err(), len(names))
			}
			if len(ir.Folders) != len(names) {
				t.Errorf("import found %d folders, want %d (one per exported folder)", len(ir.Folders), len(names))
			}
		})
	}
}
