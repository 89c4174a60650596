package mailfmt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// After FolderDone a writer keeps nothing of the folder; a message
// written into it again is found on the disk as an earlier export's, not
// written twice; within a folder, a Maildir writes the same message once
// and .eml files give a second message of the same name a name of its own.
func TestWritersForgetFinishedFolders(t *testing.T) {
	for _, format := range []Format{Maildir, EML} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			var w Writer
			var count func() int
			folder := Folder{Name: "Lists", Delim: '/'}
			switch format {
			case Maildir:
				mw := NewMaildirWriter(dir)
				w, count = mw, func() int {
					ents, _ := os.ReadDir(filepath.Join(dir, ".Lists", "cur"))
					return len(ents)
				}
			case EML:
				w, count = NewEMLWriter(dir), func() int {
					ents, _ := os.ReadDir(filepath.Join(dir, "Lists"))
					n := 0
					for _, e := range ents {
						if strings.HasSuffix(e.Name(), ".eml") {
							n++
						}
					}
					return n
				}
			}
			if err := w.Names().Plan([]Folder{folder}); err != nil {
				t.Fatal(err)
			}
			add := func(id string) error {
				_, err := w.Add(folder, &Message{Body: strings.NewReader("msg " + id), Size: int64(4 + len(id)), Date: t0(), ID: id})
				return err
			}
			for _, id := range []string{"1", "2", "3"} {
				if err := add(id); err != nil {
					t.Fatal(err)
				}
			}
			want := 4
			switch err := add("2"); {
			case format == Maildir && !errors.Is(err, ErrExists):
				t.Fatalf("the same message twice in one folder: %v, want ErrExists", err)
			case format == EML && err != nil:
				t.Fatalf("the same name twice in one folder: %v, want it written under a name of its own", err)
			case format == EML:
				want++
			}
			fe, ok := w.(FolderEnder)
			if !ok {
				t.Fatalf("%T is not a FolderEnder", w)
			}
			fe.FolderDone(folder)
			switch mw := w.(type) {
			case *MaildirWriter:
				if len(mw.folders) != 0 {
					t.Fatalf("%d folders kept after FolderDone", len(mw.folders))
				}
			case *EMLWriter:
				if len(mw.names) != 0 {
					t.Fatalf("%d names kept after FolderDone", len(mw.names))
				}
			}
			for _, id := range []string{"1", "3"} {
				if err := add(id); !errors.Is(err, ErrExists) {
					t.Errorf("message %s after FolderDone: %v, want ErrExists (on the disk already)", id, err)
				}
			}
			if err := add("4"); err != nil {
				t.Fatal(err)
			}
			if n := count(); n != want {
				t.Fatalf("%d files, want %d", n, want)
			}
		})
	}
}
