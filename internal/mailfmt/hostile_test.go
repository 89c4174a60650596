package mailfmt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// hostileFolders are names a hostile or buggy server may give. want is
// what import must read back (levels joined by "/").
var hostileFolders = []struct {
	f    Folder
	want string
}{
	{Folder{Name: "INBOX", Delim: '/'}, "INBOX"},
	{Folder{Name: "..", Delim: '/'}, ".."},
	{Folder{Name: ".", Delim: '/'}, "."},
	{Folder{Name: "/", Delim: '/'}, "/"},
	{Folder{Name: ".", Delim: '.'}, "/"},
	{Folder{Name: "/x", Delim: '/'}, "/x"},
	{Folder{Name: "a/../../b", Delim: '/'}, "a/../../b"},
	{Folder{Name: "../../../victim/evil", Delim: '/'}, "../../../victim/evil"},
	{Folder{Name: "..", Delim: '.'}, "//"},
	{Folder{Name: "x/../../y", Delim: '.'}, "x%2F//%2F//%2Fy"}, // a '/' inside a level stays %2F
	{Folder{Name: "new\nline", Delim: '/'}, "new\nline"},
	{Folder{Name: "\x1b[31mred\x1b[0m", Delim: '/'}, "\x1b[31mred\x1b[0m"},
	{Folder{Name: "tab\there", Delim: 0}, "tab\there"},
	{Folder{Name: "slash/in/flat", Delim: 0}, "slash%2Fin%2Fflat"},
	{Folder{Name: "Foo", Delim: '/'}, "Foo"},
	{Folder{Name: "foo", Delim: '/'}, "foo"},
	{Folder{Name: "FOO", Delim: '/'}, "FOO"},
	{Folder{Name: "a.b", Delim: '/'}, "a.b"},
	{Folder{Name: "a.b", Delim: '.'}, "a/b"},
	{Folder{Name: "a\u2024b", Delim: '/'}, "a\u2024b"},
	{Folder{Name: "a%2Eb", Delim: '/'}, "a%2Eb"},
	{Folder{Name: "100%", Delim: '/'}, "100%"},
	{Folder{Name: "cur", Delim: '/'}, "cur"},
	{Folder{Name: "mailkeep-names", Delim: '/'}, "mailkeep-names"}, // Maildir: not the names file
	{Folder{Name: "p/new", Delim: '/'}, "p/new"},
	{Folder{Name: "p/tmp", Delim: '/'}, "p/tmp"},
	{Folder{Name: "p/cur", Delim: '/'}, "p/cur"},
	{Folder{Name: "t.sbd/x", Delim: '/'}, "t.sbd/x"},
	{Folder{Name: "2019-01-01T000000Z-1.eml", Delim: '/'}, "2019-01-01T000000Z-1.eml"},
	{Folder{Name: "Sent.mbox", Delim: '/'}, "Sent.mbox"},
	{Folder{Name: "Sent", Delim: '/'}, "Sent"},
	{Folder{Name: "Sent", Delim: '/', Key: 99}, "Sent"}, // "INBOX.Sent" and "Sent" both named Sent by export
	{Folder{Name: "Sent.mbox/child", Delim: '/'}, "Sent.mbox/child"},
	{Folder{Name: ".hidden", Delim: '/'}, ".hidden"},
	{Folder{Name: "Entwürfe/日本語", Delim: '/'}, "Entwürfe/日本語"},
	{Folder{Name: strings.Repeat("L", 300), Delim: '/'}, strings.Repeat("L", 300)},
	{Folder{Name: strings.Repeat("é", 200) + "/x", Delim: '/'}, strings.Repeat("é", 200) + "/x"},
	{Folder{Name: strings.Repeat("deep/", 40) + "end", Delim: '/'}, strings.Repeat("deep/", 40) + "end"},
}

// TestHostileFolderNames exports a message into each hostile folder, in
// every format, and checks that nothing lands outside the output
// directory, that every folder has a file of its own, and that import
// reads every name back.
func TestHostileFolderNames(t *testing.T) {
	for _, format := range []Format{Maildir, Mbox, EML} {
		t.Run(string(format), func(t *testing.T) {
			base := t.TempDir()
			out := filepath.Join(base, "out")
			victim := filepath.Join(base, "victim")
			for _, d := range []string{out, victim} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			w, err := NewWriter(format, out)
			if err != nil {
				t.Fatal(err)
			}
			var folders []Folder
			for _, h := range hostileFolders {
				folders = append(folders, h.f)
			}
			if err := w.Names().Plan(folders); err != nil {
				t.Fatal(err)
			}
			paths := map[string]Folder{}
			for i, h := range hostileFolders {
				p := w.Names().Path(h.f)
				if other, dup := paths[foldName(p)]; dup {
					t.Errorf("%q and %q share the path %q", other.Name, h.f.Name, p)
				}
				paths[foldName(p)] = h.f
				for _, c := range strings.Split(p, string(filepath.Separator)) {
					if len(c) > 250 {
						t.Errorf("%q: path component of %d bytes", h.f.Name, len(c))
					}
				}
				body := fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i)
				if _, err := w.Add(h.f, &Message{Body: strings.NewReader(body), Size: int64(len(body)), ID: fmt.Sprint(i),
					Date: time.Unix(1e9+int64(i), 0)}); err != nil {
					t.Errorf("Add(%q) = %v", h.f.Name, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(victim); len(ents) > 0 {
				t.Errorf("written outside --out: %v", ents)
			}
			if ents, _ := os.ReadDir(base); len(ents) != 2 {
				t.Errorf("the directory above --out holds %d entries, want 2 (out, victim)", len(ents))
			}
			checkModes(t, out)

			boxes, problems, err := Discover(out, format)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Logf("problem: %v", p)
			}
			got := map[string]int{}
			for _, b := range boxes {
				n := countMessages(t, b)
				got[b.Name] += n
			}
			for i, h := range hostileFolders {
				if got[h.want] == 0 {
					t.Errorf("folder %d %q (delim %q): import finds no %q", i, h.f.Name, h.f.Delim, h.want)
				}
			}
			var names []string
			for n := range got {
				names = append(names, n)
			}
			slices.Sort(names)
			if t.Failed() || testing.Verbose() {
				t.Logf("imported: %q", names)
			}
		})
	}
}

func countMessages(t *testing.T, b Mailbox) int {
	t.Helper()
	r, err := b.Open()
	if err != nil {
		t.Fatalf("open %s: %v", b.Path, err)
	}
	defer r.Close()
	n := 0
	for {
		m, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Errorf("%s: %v", b.Path, err)
			continue
		}
		io.Copy(io.Discard, m.Body)
		n++
	}
}

// checkModes: every file 0600, every directory 0700.
func checkModes(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if st.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, st.Mode().Perm(), want)
		}
		return nil
	})
}

// TestExportRefusesPlantedSymlinks: a link planted in the output
// directory, where a folder, its cur/ or an mbox file will go, is never
// written through.
func TestExportRefusesPlantedSymlinks(t *testing.T) {
	cases := []struct {
		format Format
		plant  string // path under out that becomes a link to the victim
		folder Folder
	}{
		{Maildir, ".Sent", Folder{Name: "Sent", Delim: '/'}},
		{Maildir, "cur", Folder{Name: "INBOX", Delim: '/'}},
		{Maildir, ".Sent/dovecot-keywords", Folder{Name: "Sent", Delim: '/'}},
		{Mbox, "Archive", Folder{Name: "Archive/2019", Delim: '/'}},
		{Mbox, ".INBOX.mbox.tmp", Folder{Name: "INBOX", Delim: '/'}},
		{EML, "INBOX", Folder{Name: "INBOX", Delim: '/'}},
	}
	for _, tc := range cases {
		t.Run(string(tc.format)+"/"+tc.plant, func(t *testing.T) {
			base := t.TempDir()
			out, victim := filepath.Join(base, "out"), filepath.Join(base, "victim")
			os.Mkdir(out, 0o700)
			os.Mkdir(victim, 0o700)
			target := victim
			if strings.Contains(tc.plant, "keywords") || strings.HasSuffix(tc.plant, ".tmp") {
				target = filepath.Join(victim, "file")
				os.WriteFile(target, []byte("precious\n"), 0o600)
			}
			if strings.Contains(tc.plant, "/") {
				os.MkdirAll(filepath.Join(out, filepath.Dir(tc.plant), "cur"), 0o700)
				os.MkdirAll(filepath.Join(out, filepath.Dir(tc.plant), "new"), 0o700)
				os.MkdirAll(filepath.Join(out, filepath.Dir(tc.plant), "tmp"), 0o700)
			}
			if err := os.Symlink(target, filepath.Join(out, tc.plant)); err != nil {
				t.Fatal(err)
			}
			w, _ := NewWriter(tc.format, out)
			body := "Subject: x\r\n\r\nx\r\n"
			_, err := w.Add(tc.folder, &Message{Body: strings.NewReader(body), Size: int64(len(body)), ID: "1",
				Flags: []string{"Work"}, Date: time.Unix(1e9, 0)})
			if err == nil {
				err = w.Close()
			} else {
				w.Abort()
			}
			ents, _ := os.ReadDir(victim)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if b, _ := os.ReadFile(filepath.Join(victim, "file")); target != victim && string(b) != "precious\n" {
				t.Errorf("victim file rewritten: %q", b)
			}
			if target == victim && len(names) > 0 {
				t.Errorf("written through the link into %s: %v", victim, names)
			}
			if target != victim && len(names) != 1 {
				t.Errorf("victim dir holds %v", names)
			}
			switch {
			case target == victim && !errors.Is(err, ErrSymlink):
				t.Errorf("error = %v, want one wrapping ErrSymlink", err)
			case target != victim && err != nil:
				t.Errorf("error = %v, want the link replaced", err)
			}
		})
	}
}
