package mailfmt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/sample"
)

func TestMaildirPath(t *testing.T) {
	tests := []struct {
		folder Folder
		want   string
	}{
		{Folder{Name: "INBOX", Delim: '/'}, ""},
		{Folder{Name: "inbox", Delim: '/'}, ""},
		{Folder{Name: "Sent", Delim: '/'}, ".Sent"},
		{Folder{Name: "Archive/2019", Delim: '/'}, ".Archive.2019"},
		{Folder{Name: "INBOX.Archive.2019", Delim: '.'}, ".INBOX.Archive.2019"},
		{Folder{Name: "Entwürfe", Delim: '/'}, ".Entw&APw-rfe"},
		{Folder{Name: "R&D", Delim: '/'}, ".R&-D"},
		{Folder{Name: "john.doe/x", Delim: '/'}, ".john&ICQ-doe.x"},
		{Folder{Name: "a/b.c", Delim: '.'}, ".a&IhU-b.c"},
	}
	for _, tc := range tests {
		t.Run(tc.folder.Name, func(t *testing.T) {
			if got := MaildirPath(tc.folder); got != tc.want {
				t.Errorf("MaildirPath(%q) = %q, want %q", tc.folder.Name, got, tc.want)
			}
		})
	}
}

func TestMaildirRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w := NewMaildirWriter(dir)
	type in struct {
		folder Folder
		raw    []byte
		flags  []string
		date   time.Time
	}
	var ins []in
	base := time.Date(2019, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	for i, m := range sample.Awkward() {
		ins = append(ins, in{Folder{Name: "INBOX", Delim: '/'}, m.Raw, []string{`\Seen`}, base.Add(time.Duration(i) * time.Minute)})
	}
	for i, m := range sample.Generate(40, 3) {
		ins = append(ins, in{Folder{Name: m.Folder, Delim: '/'}, m.Raw, m.Flags, base.Add(time.Duration(i) * time.Hour)})
	}
	ins = append(ins, in{Folder{Name: "Flags", Delim: '/'}, []byte("Subject: all\n\n"),
		[]string{`\Answered`, `\Flagged`, `\Deleted`, `\Draft`, `\Seen`, `\Recent`, `$Forwarded`, `Work`, `$Junk`}, base})
	for i, m := range ins {
		if _, err := w.Add(m.folder, &Message{Body: bytes.NewReader(m.raw), Size: int64(len(m.raw)), Flags: m.flags, Date: m.date, ID: fmt.Sprint(i)}); err != nil {
			t.Fatalf("Add() = %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Read every folder back, by what Discover finds.
	boxes, problems, err := Discover(dir, "")
	if err != nil || len(problems) > 0 {
		t.Fatalf("Discover() = %v, %v", problems, err)
	}
	got := map[string][][]byte{}
	gotFlags := map[string][]string{}
	gotDate := map[string]time.Time{}
	for _, b := range boxes {
		if b.Format != Maildir {
			t.Errorf("Discover found %s as %s", b.Path, b.Format)
		}
		r, err := b.Open()
		if err != nil {
			t.Fatal(err)
		}
		msgs, bodies, problems := readAll(t, r)
		r.Close()
		if len(problems) > 0 {
			t.Errorf("%s: problems %v", b.Name, problems)
		}
		for i, m := range msgs {
			got[b.Name] = append(got[b.Name], bodies[i])
			k := b.Name + "\x00" + string(bodies[i])
			gotFlags[k] = m.Flags
			gotDate[k] = m.Date
			if !strings.HasPrefix(m.Key, b.KeyPrefix+"/") || strings.Contains(m.Key, ":2,") {
				t.Errorf("key %q: want prefix %q and no flags", m.Key, b.KeyPrefix)
			}
		}
	}
	for _, m := range ins {
		name := m.folder.Name
		if !slices.ContainsFunc(got[name], func(b []byte) bool { return bytes.Equal(b, m.raw) }) {
			t.Errorf("folder %s: message %q not read back", name, trunc(m.raw))
			continue
		}
		k := name + "\x00" + string(m.raw)
		var want []string
		for _, f := range m.flags {
			if f != `\Recent` {
				want = append(want, f)
			}
		}
		if !sameSet(gotFlags[k], want) && name != "Archive/2019" { // Archive/2019 holds duplicates
			t.Errorf("folder %s: flags = %v, want %v", name, gotFlags[k], want)
		}
		if name != "Archive/2019" && !gotDate[k].Equal(m.date) {
			t.Errorf("folder %s: date = %v, want %v", name, gotDate[k], m.date)
		}
	}
	// Layout details Dovecot and mutt rely on.
	for _, p := range []string{"cur", "new", "tmp", ".Sent/maildirfolder", ".Entw&APw-rfe/cur", ".Archive.2019/cur", ".Flags/dovecot-keywords"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	kw, _ := os.ReadFile(filepath.Join(dir, ".Flags", "dovecot-keywords"))
	if string(kw) != "0 $Forwarded\n1 Work\n2 $Junk\n" {
		t.Errorf("dovecot-keywords = %q", kw)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, ".Flags", "cur"))
	if len(ents) != 1 || !strings.HasSuffix(ents[0].Name(), ":2,DFPRSTabc") || !strings.Contains(ents[0].Name(), ",S=14:") {
		t.Errorf(".Flags/cur = %v, want one name ending ,S=14:2,DFPRSTabc", ents)
	}
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(tmp) != 0 {
		t.Errorf("tmp/ not empty: %v", tmp)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestMaildirTooManyKeywords(t *testing.T) {
	dir := t.TempDir()
	w := NewMaildirWriter(dir)
	var flags []string
	for i := 0; i < 28; i++ {
		flags = append(flags, fmt.Sprintf("kw%02d", i))
	}
	flags = append(flags, "bad(atom")
	_, err := w.Add(Folder{Name: "INBOX"}, &Message{Body: strings.NewReader("x"), Size: 1, Flags: flags})
	var dk *DroppedKeywordError
	if !errors.As(err, &dk) || !slices.Equal(dk.Keywords, []string{"kw26", "kw27", "bad(atom"}) {
		t.Fatalf("Add() = %v, want DroppedKeywordError for kw26 kw27 bad(atom", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "cur"))
	if len(ents) != 1 || !strings.HasSuffix(ents[0].Name(), ":2,abcdefghijklmnopqrstuvwxyz") {
		t.Errorf("cur = %v, want the message with 26 keyword letters", ents)
	}
}

func TestMaildirShortBody(t *testing.T) {
	dir := t.TempDir()
	w := NewMaildirWriter(dir)
	_, err := w.Add(Folder{Name: "INBOX"}, &Message{Body: strings.NewReader("short"), Size: 10})
	if err == nil {
		t.Fatal("Add() with a short body = nil error")
	}
	for _, sub := range []string{"cur", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(dir, sub)); len(ents) != 0 {
			t.Errorf("%s/ = %v after a failed Add, want empty", sub, ents)
		}
	}
}

// TestMaildirReaderNames: names and layouts of other tools.
func TestMaildirReaderNames(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string, mtime time.Time) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	t0 := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	write("cur/1577934245.M1P2.host,S=3:2,RS", "one", t0)
	write("cur/1577934246.M1P2.host!2,F", "two", t0.Add(time.Second))
	write("new/1577934247.M1P2.host", "three", t0.Add(2*time.Second))
	write("cur/.hidden", "not mail", t0)
	write("tmp/1577934248.inprogress", "partial", t0)
	write("dovecot-keywords", "0 Work\n", t0)
	write("cur/1577934249.M1P2.host:2,Sa", "four", t0.Add(3*time.Second))
	os.MkdirAll(filepath.Join(dir, "cur", "stray-dir"), 0o755)
	// mbsync: ,U= names and .uidvalidity.
	write("mbsync/cur/1.2.host,U=20:2,S", "u20", t0.Add(time.Hour))
	write("mbsync/cur/3.4.host,U=10:2,", "u10", t0.Add(2*time.Hour))
	write("mbsync/new/.keep", "", t0)
	write("mbsync/.uidvalidity", "1234\n20\n", t0)
	// OfflineIMAP.
	write("offline/cur/1577934245_0.123.host,U=7,FMD5=0123456789abcdef:2,S", "off7", t0)
	os.MkdirAll(filepath.Join(dir, "offline", "new"), 0o755)

	r, err := OpenMaildir(dir, "maildir:")
	if err != nil {
		t.Fatal(err)
	}
	msgs, bodies, problems := readAll(t, r)
	r.Close()
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "stray-dir") {
		t.Errorf("problems = %v, want one about cur/stray-dir", problems)
	}
	wantBodies := []string{"one", "two", "three", "four"}
	wantFlags := [][]string{{`\Answered`, `\Seen`}, {`\Flagged`}, nil, {`\Seen`, "Work"}}
	wantKeys := []string{"maildir:/1577934245.M1P2.host,S=3", "maildir:/1577934246.M1P2.host", "maildir:/1577934247.M1P2.host", "maildir:/1577934249.M1P2.host"}
	if len(bodies) != len(wantBodies) {
		t.Fatalf("read %q, want %q", bodies, wantBodies)
	}
	for i := range bodies {
		if string(bodies[i]) != wantBodies[i] || !sameSet(msgs[i].Flags, wantFlags[i]) || msgs[i].Key != wantKeys[i] {
			t.Errorf("message %d = %q %v %q, want %q %v %q", i, bodies[i], msgs[i].Flags, msgs[i].Key, wantBodies[i], wantFlags[i], wantKeys[i])
		}
		if !msgs[i].Date.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Errorf("message %d date = %v", i, msgs[i].Date)
		}
	}

	r, _ = OpenMaildir(filepath.Join(dir, "mbsync"), "maildir:mbsync")
	msgs, bodies, _ = readAll(t, r)
	r.Close()
	if len(msgs) != 2 || string(bodies[0]) != "u10" || msgs[0].Key != "maildir:mbsync/V=1234/U=10" || msgs[0].UID != 10 || msgs[0].UIDValidity != 1234 {
		t.Errorf("mbsync: %q keys %v, want u10 first keyed V=1234/U=10", bodies, keys(msgs))
	}
	r, _ = OpenMaildir(filepath.Join(dir, "offline"), "maildir:offline")
	msgs, _, _ = readAll(t, r)
	r.Close()
	if len(msgs) != 1 || msgs[0].Key != "maildir:offline/U=7" || !slices.Equal(msgs[0].Flags, []string{`\Seen`}) {
		t.Errorf("offlineimap: keys %v", keys(msgs))
	}
}

func keys(msgs []*Message) []string {
	var k []string
	for _, m := range msgs {
		k = append(k, m.Key)
	}
	return k
}

// TestMaildirUnreadable: a file that cannot be read is a problem naming
// it; the other messages still come.
func TestMaildirUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root reads anything: make the file vanish instead.
		t.Log("running as root: testing a file that disappears after listing")
	}
	dir := t.TempDir()
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "cur", "1.a:2,S"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "cur", "2.b:2,S"), []byte("b"), 0o000)
	os.WriteFile(filepath.Join(dir, "cur", "3.c:2,S"), []byte("c"), 0o644)
	r, err := OpenMaildir(dir, "k")
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.Remove(filepath.Join(dir, "cur", "2.b:2,S"))
	}
	_, bodies, problems := readAll(t, r)
	r.Close()
	if len(bodies) != 2 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "2.b:2,S") {
		t.Errorf("read %q with problems %v; want a and c, and one problem naming 2.b:2,S", bodies, problems)
	}
}

// TestMaildirWriteAgain: exporting into the same Maildir again writes
// nothing twice; changed flags are brought up to date.
func TestMaildirWriteAgain(t *testing.T) {
	dir := t.TempDir()
	add := func(w *MaildirWriter, id string, flags ...string) (string, error) {
		return w.Add(Folder{Name: "Sent", Delim: '/'}, &Message{Body: strings.NewReader("msg " + id), Size: int64(4 + len(id)),
			Flags: flags, Date: t0(), ID: id})
	}
	w := NewMaildirWriter(dir)
	if _, err := add(w, "1", `\Seen`); err != nil {
		t.Fatal(err)
	}
	if _, err := add(w, "1", `\Seen`); !errors.Is(err, ErrExists) {
		t.Errorf("same message twice in one run: %v, want ErrExists", err)
	}
	w = NewMaildirWriter(dir) // a second export
	if _, err := add(w, "1", `\Seen`); !errors.Is(err, ErrExists) {
		t.Errorf("second export, same flags: %v, want ErrExists", err)
	}
	if _, err := add(w, "1", `\Seen`, `\Flagged`); !errors.Is(err, ErrExists) {
		t.Errorf("second export, new flags: %v, want ErrExists", err)
	}
	if _, err := add(w, "2"); err != nil {
		t.Errorf("second export, new message: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, ".Sent", "cur"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 || !strings.HasSuffix(names[0], ":2,FS") || !strings.HasSuffix(names[1], ":2,") {
		t.Errorf("cur = %q, want message 1 with flags FS and message 2", names)
	}
}

func t0() time.Time { return time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC) }
