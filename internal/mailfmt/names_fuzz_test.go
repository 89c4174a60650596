package mailfmt

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFolderNames: whatever name and delimiter a server sends, every
// format's path stays inside the export (no "", ".", ".." or over-long
// component, no NUL), two folders never share a path, even case-folded,
// and the levels decode back (a NUL, which IMAP does not allow, is the one
// byte dropped).
func FuzzFolderNames(f *testing.F) {
	for _, s := range []struct {
		a, b  string
		delim byte
	}{
		{"INBOX", "inbox", '/'}, {"..", ".", '/'}, {"/", ".", '.'}, {"a/../../b", "a%2F..", '/'},
		{"x\x00y", "xy", '/'}, {"new\nline", "\x1b[2J", '/'}, {"Foo", "foo", '/'}, {"a.b", "a\u2024b", '.'},
		{strings.Repeat("é", 150), strings.Repeat("é", 151), '/'}, {"cur", "CUR", '/'}, {"t.sbd/x", "t/x", '/'},
		{"%41", "A", 0}, {"x.eml", "x%2Eeml", '/'}, {"caf\xe9", "caf%E9", '/'},
	} {
		f.Add(s.a, s.b, s.delim)
	}
	f.Fuzz(func(t *testing.T, a, b string, delim byte) {
		d := rune(0)
		if delim != 0 {
			d = rune(delim & 0x7f)
		}
		fa, fb := Folder{Name: a, Delim: d}, Folder{Name: b, Delim: d}
		for _, format := range []Format{Maildir, Mbox, EML} {
			n := NewNamer(format, "")
			n.Plan([]Folder{fa, fb})
			pa, pb := n.Path(fa), n.Path(fb)
			if a != b && foldName(pa) == foldName(pb) {
				t.Fatalf("%s: %q and %q share the path %q / %q", format, a, b, pa, pb)
			}
			for _, p := range []string{pa, pb} {
				if p == "" && format == Maildir {
					continue // INBOX
				}
				for _, c := range strings.Split(p, string(filepath.Separator)) {
					if c == "" || c == "." || c == ".." || len(c) > maxComponent+5 || strings.ContainsRune(c, 0) {
						t.Fatalf("%s: path %q has the component %q", format, p, c)
					}
				}
				if !filepath.IsLocal(p) && p != "" {
					t.Fatalf("%s: path %q is not local", format, p)
				}
			}
			// Decoding gives the levels back, for names that are not cut short.
			if format == Mbox && !strings.Contains(pa, "~") && utf8.ValidString(a) && !strings.ContainsRune(a, 0) && !fa.IsInbox() {
				var got []string
				for _, c := range strings.Split(strings.TrimSuffix(pa, ".mbox"), string(os.PathSeparator)) {
					got = append(got, unescapeLevel(c))
				}
				if want := fa.Levels(); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
					t.Fatalf("mbox %q: path %q decodes to %q, want %q", a, pa, got, want)
				}
			}
			if format == Maildir && pa != "" && !strings.Contains(pa, "~") && utf8.ValidString(a) && !strings.ContainsRune(a, 0) {
				var got []string
				for _, l := range strings.Split(pa[1:], ".") {
					got = append(got, decodeLevel(l))
				}
				if want := fa.Levels(); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
					t.Fatalf("maildir %q: path %q decodes to %q, want %q", a, pa, got, want)
				}
			}
		}
	})
}

// FuzzIMAPBackup reads arbitrary .imap metadata beside an arbitrary
// .mbox (imap-backup's pair): it must never panic, never read outside
// the .mbox (offsets and lengths come from the file), and every message
// it yields must be no longer than the .mbox itself.
func FuzzIMAPBackup(f *testing.F) {
	mbox := "From a Mon Mar  4 05:06:07 2019\nSubject: one\n\nbody\n\nFrom b Mon Mar  4 05:06:07 2019\nSubject: two\n\nx\n"
	for _, meta := range []string{
		`{"version": 3, "uid_validity": 7, "messages": [{"uid": 1, "offset": 0, "length": 54, "flags": ["Seen"]}, {"uid": 2, "offset": 54, "length": 46}]}`,
		`{"version": 3.1, "uid_validity": 7, "messages": [{"uid": 1, "offset": -5, "length": 99999999999}]}`,
		`{"version": 2, "uid_validity": 7, "uids": [1, 2, 3]}`,
		`{"version": 9}`, `not json`, `{"version": 3, "messages": [{"uid": 1, "offset": 9223372036854775807, "length": 9223372036854775807}]}`,
	} {
		f.Add([]byte(meta), []byte(mbox))
	}
	f.Fuzz(func(t *testing.T, meta, mboxData []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "box.mbox")
		if err := os.WriteFile(path, mboxData, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "box.imap"), meta, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := OpenIMAPBackup(path, "k")
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i <= len(mboxData)+1000; i++ {
			m, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				continue
			}
			b, err := io.ReadAll(io.LimitReader(m.Body, int64(len(mboxData))+1))
			if err == nil && len(b) > len(mboxData) {
				t.Fatalf("message %d is %d bytes, the .mbox only %d", i, len(b), len(mboxData))
			}
		}
		t.Fatalf("more messages than bytes")
	})
}
