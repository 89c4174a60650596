package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/sample"
)

func impRepo(t testing.TB) *archive.Repo {
	t.Helper()
	r, err := archive.Open(context.Background(), t.TempDir(), &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// impTree writes files: a name ending in "/" is a directory; content
// starting with "->" makes a symlink.
func impTree(t testing.TB, root string, files map[string]string, mtime time.Time) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if strings.HasSuffix(rel, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
}

// impPlace is one imported message place as the archive holds it.
type impPlace struct {
	folder, key, flags string
	date               time.Time
	raw                string
}

func impPlaces(t testing.TB, repo *archive.Repo, account string) []impPlace {
	t.Helper()
	ctx := context.Background()
	var out []impPlace
	for e, err := range repo.Messages(ctx, archive.Query{Account: account}) {
		if err != nil {
			t.Fatal(err)
		}
		raw, err := repo.ReadMessage(ctx, e.Hash)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, impPlace{folder: e.FolderName, key: e.UIDL, flags: archive.JoinFlags(e.Flags), date: e.InternalDate, raw: string(raw)})
	}
	slices.SortFunc(out, func(a, b impPlace) int { return strings.Compare(a.folder+a.key, b.folder+b.key) })
	return out
}

func (p impPlace) String() string {
	return fmt.Sprintf("%s %s [%s] %s %q", p.folder, p.key, p.flags, p.date.UTC().Format(time.RFC3339), p.raw)
}

var t0 = time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)

// TestImportSources imports each kind of source, checks every place
// (folder, key, flags, date, bytes), then imports it again: nothing new.
func TestImportSources(t *testing.T) {
	ibMeta := func(version string, uids ...int) string {
		var msgs []string
		off := 0
		for i, uid := range uids {
			s := ibMsgs[i]
			msgs = append(msgs, fmt.Sprintf(`{"uid":%d,"offset":%d,"length":%d,"flags":["Seen","Flagged"]}`, uid, off, len(s)))
			off += len(s)
		}
		return `{"version":` + version + `,"uid_validity":4242,"messages":[` + strings.Join(msgs, ",") + `]}`
	}
	tests := []struct {
		name   string
		files  map[string]string
		from   string // relative to the tree; "" = the tree
		folder string
		want   []string // impPlace.String() of every place
	}{
		{name: "dovecot maildir++", files: map[string]string{
			"cur/1551675967.M1P1.host,S=6:2,RS":    "inbox1",
			"new/1551675968.M1P1.host":             "inbox2",
			".Sent/cur/1551675969.M1P1.host:2,Sab": "sent1",
			".Sent/new/":                           "",
			".Sent/dovecot-keywords":               "0 $Forwarded\n1 Work\n",
			".Sent/maildirfolder":                  "",
			".Archive.2019/cur/1.M1P1.host:2,T":    "arch1",
			".Archive.2019/new/":                   "",
			".Entw&APw-rfe/cur/2.M2P2.host:2,D":    "draft1",
			".Entw&APw-rfe/new/":                   "",
			"tmp/3.M3P3.host":                      "in delivery",
			"dovecot-uidlist":                      "3 V1 N1\n",
			"dovecot.index.log":                    "binary",
			"subscriptions":                        "Sent\n",
		}, want: []string{
			`Archive/2019 maildir:.Archive.2019/1.M1P1.host [\Deleted] 2019-03-04T05:06:07Z "arch1"`,
			`Entwürfe maildir:.Entw&APw-rfe/2.M2P2.host [\Draft] 2019-03-04T05:06:07Z "draft1"`,
			`INBOX maildir:/1551675967.M1P1.host,S=6 [\Answered \Seen] 2019-03-04T05:06:07Z "inbox1"`,
			`INBOX maildir:/1551675968.M1P1.host [] 2019-03-04T05:06:07Z "inbox2"`,
			`Sent maildir:.Sent/1551675969.M1P1.host [$Forwarded Work \Seen] 2019-03-04T05:06:07Z "sent1"`,
		}},
		{name: "mbsync and offlineimap", files: map[string]string{
			"INBOX/cur/1.2.host,U=5:2,S":                     "mb5",
			"INBOX/cur/1.3.host,U=3:2,":                      "mb3",
			"INBOX/new/":                                     "",
			"INBOX/.uidvalidity":                             "777\n5\n",
			"Lists/dovecot/cur/1_0.1.host,U=9,FMD5=abc:2,FS": "off9",
			"Lists/dovecot/new/":                             "",
		}, want: []string{
			`INBOX maildir:INBOX/V=777/U=3 [] 2019-03-04T05:06:07Z "mb3"`,
			`INBOX maildir:INBOX/V=777/U=5 [\Seen] 2019-03-04T05:06:07Z "mb5"`,
			`Lists/dovecot maildir:Lists/dovecot/U=9 [\Flagged \Seen] 2019-03-04T05:06:07Z "off9"`,
		}},
		{name: "mboxrd with status fields", files: map[string]string{
			"Saved.mbox": "From a@x Mon Mar  4 05:06:07 2019\nStatus: RO\nX-Status: AF\nSubject: 1\n\n>From me\n\n" +
				"From b@x Tue Mar  5 05:06:07 2019\nSubject: 2\n\nno newline at the end\n" +
				"From c@x Wed Mar  6 05:06:07 2019\nSubject: 1\n\n>From me\n\n", // a copy of the first, no Status
		}, from: "Saved.mbox", want: []string{
			`Saved mbox:Saved.mbox/HASH [\Answered \Flagged \Seen] 2019-03-04T05:06:07Z "Status: RO\nX-Status: AF\nSubject: 1\n\nFrom me\n"`,
			`Saved mbox:Saved.mbox/HASH [] 2019-03-06T05:06:07Z "Subject: 1\n\nFrom me\n"`,
			`Saved mbox:Saved.mbox/HASH [] 2019-03-05T05:06:07Z "Subject: 2\n\nno newline at the end"`,
		}},
		{name: "thunderbird tree", files: map[string]string{
			"Inbox":                 "From - Mon Mar  4 05:06:07 2019\nS: a\n\n",
			"Archives.sbd/2019":     "From - Mon Mar  4 05:06:07 2019\nS: b\n\nFrom - Mon Mar  4 05:06:08 2019\nS: b\n\n",
			"Archives.sbd/2019.msf": "// mork",
		}, want: []string{
			`Archives/2019 mbox:Archives.sbd/2019/HASH [] 2019-03-04T05:06:07Z "S: b\n"`,
			`Archives/2019 mbox:Archives.sbd/2019/HASH#2 [] 2019-03-04T05:06:08Z "S: b\n"`,
			`INBOX mbox:Inbox/HASH [] 2019-03-04T05:06:07Z "S: a\n"`,
		}},
		{name: "eml directory", files: map[string]string{
			"Receipts/2019-03-04T050607Z-1.eml": "Subject: r1\r\n\r\nx\r\n",
			"Receipts/b.EML":                    "Subject: r2\r\n\r\ny\r\n",
			"Receipts/notes.txt":                "not mail",
		}, want: []string{
			`Receipts eml:Receipts/2019-03-04T050607Z-1.eml [] 2019-03-04T05:06:07Z "Subject: r1\r\n\r\nx\r\n"`,
			`Receipts eml:Receipts/b.EML [] 2019-03-04T05:06:07Z "Subject: r2\r\n\r\ny\r\n"`,
		}},
		{name: "imap-backup", files: map[string]string{
			"INBOX.mbox":         strings.Join(ibMsgs, ""),
			"INBOX.imap":         ibMeta("3.1", 7, 8),
			"Work/Projects.mbox": ibMsgs[0],
			"Work/Projects.imap": ibMeta("3", 1),
		}, want: []string{
			`INBOX imap-backup:INBOX/4242/7 [\Flagged \Seen] 2019-03-04T05:06:07Z "From x Mon Mar  4 05:06:07 2019\nSubject: a\n\nFrom b\n"`,
			`INBOX imap-backup:INBOX/4242/8 [\Flagged \Seen] 2019-03-04T05:06:07Z "Subject: b\n\n>From c\n"`,
			`Work/Projects imap-backup:Work/Projects/4242/1 [\Flagged \Seen] 2019-03-04T05:06:07Z "From x Mon Mar  4 05:06:07 2019\nSubject: a\n\nFrom b\n"`,
		}},
		{name: "folder option, single", folder: "Old/Saved", from: "Saved.mbox", files: map[string]string{
			"Saved.mbox": "From a@x Mon Mar  4 05:06:07 2019\nS: x\n\n",
		}, want: []string{`Old/Saved mbox:Saved.mbox/HASH [] 2019-03-04T05:06:07Z "S: x\n"`}},
		{name: "folder option, tree", folder: "Old", files: map[string]string{
			"cur/1.a:2,S":       "i",
			"new/":              "",
			".Sent/cur/2.b:2,S": "s",
			".Sent/new/":        "",
		}, want: []string{
			`Old maildir:/1.a [\Seen] 2019-03-04T05:06:07Z "i"`,
			`Old/Sent maildir:.Sent/2.b [\Seen] 2019-03-04T05:06:07Z "s"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			impTree(t, dir, tc.files, t0)
			repo := impRepo(t)
			from := filepath.Join(dir, tc.from)
			res := Import(ctx, repo, &ImportOptions{Account: "old", From: from, Folder: tc.folder}, nil)
			if !res.OK() {
				t.Fatalf("Import() = %v", res.Err())
			}
			got := impPlaces(t, repo, "old")
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			// mbox keys hold a hash: compare them by shape.
			if !slices.Equal(maskKeys(gotS), maskKeys(tc.want)) {
				t.Errorf("Import() places:\n%s\nwant\n%s", strings.Join(gotS, "\n"), strings.Join(tc.want, "\n"))
			}
			if res.New+res.Dup != int64(len(tc.want)) {
				t.Errorf("Import() counted %d new + %d dup, want %d", res.New, res.Dup, len(tc.want))
			}
			a, _ := repo.LookupAccount(ctx, "old")
			if a == nil || a.Protocol != "import" {
				t.Errorf("account = %+v, want protocol import", a)
			}
			again := Import(ctx, repo, &ImportOptions{Account: "old", From: from, Folder: tc.folder}, nil)
			if !again.OK() || again.New+again.Dup != 0 || again.Known != int64(len(tc.want)) {
				t.Errorf("second Import() = %d new, %d dup, %d known, %v; want %d known", again.New, again.Dup, again.Known, again.Err(), len(tc.want))
			}
			if n := len(impPlaces(t, repo, "old")); n != len(got) {
				t.Errorf("second Import() made %d places, want %d", n, len(got))
			}
		})
	}
}

// maskKeys writes the content hash in mbox keys, which the test cannot
// know by heart, as HASH (after checking it is 24 hex digits).
var mboxHash = regexp.MustCompile(`(mbox:[^ ]*/)[0-9a-f]{24}\b`)

func maskKeys(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = mboxHash.ReplaceAllString(x, "${1}HASH")
	}
	slices.Sort(out)
	return out
}

// imap-backup's serialization of two messages: the first starts with a
// From line (left unquoted, as imap-backup does) and holds one in its
// body; the second holds ">From c".
var ibMsgs = []string{
	"From x@x Mon Mar  4 05:06:07 2019\nFrom x Mon Mar  4 05:06:07 2019\nSubject: a\n\n>From b\n\n",
	"From y@x Mon Mar  4 05:06:07 2019\nSubject: b\n\n>>From c\n\n",
}

// TestImportFlagChange: a Maildir message whose flags changed since the
// last import gets the new flags; nothing else changes.
func TestImportFlagChange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	impTree(t, dir, map[string]string{"cur/1.a:2,": "x", "new/": ""}, t0)
	repo := impRepo(t)
	Import(ctx, repo, &ImportOptions{Account: "a", From: dir}, nil)
	os.Rename(filepath.Join(dir, "cur", "1.a:2,"), filepath.Join(dir, "cur", "1.a:2,FS"))
	res := Import(ctx, repo, &ImportOptions{Account: "a", From: dir}, nil)
	got := impPlaces(t, repo, "a")
	if !res.OK() || res.Flags != 1 || len(got) != 1 || got[0].flags != `\Flagged \Seen` {
		t.Errorf("after a flag change: %v, flags changed %d, %v", got, res.Flags, res.Err())
	}
}

// TestImportBadInput: every problem names its file (and line), and the
// rest is imported.
func TestImportBadInput(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		from     string
		format   mailfmt.Format
		imported int
		errs     []string // substrings of the errors, in order
		warnings int
		fatal    string
	}{
		{name: "truncated mbox", from: "t.mbox", files: map[string]string{
			"t.mbox": "From a Mon Mar  4 05:06:07 2019\nS: 1\n\n\nFrom b Mon Mar  4 05:06:07 2019\nS: 2\n\nx\n\nFrom c Mon Mar  4 05:06:07 2019\nS: 3\n\nhal",
		}, imported: 2, errs: []string{"t.mbox line 13: message from line 10: file ends in the middle of a line"}},
		{name: "not an mbox, said to be one", from: "notes.txt", format: mailfmt.Mbox, files: map[string]string{
			"notes.txt": "Dear diary,\n\ntoday...\n",
		}, errs: []string{"notes.txt line 1: not an mbox file"}},
		{name: "not an mbox, guessed", from: "notes.txt", files: map[string]string{"notes.txt": "Dear diary\n"},
			fatal: "notes.txt: not a mailbox file"},
		{name: "binary .mbox in a tree", files: map[string]string{
			"a.mbox": "\x89PNG\r\n\x1a\n", "b.mbox": "From a Mon Mar  4 05:06:07 2019\nS: 1\n\n",
		}, imported: 1, errs: []string{"a.mbox line 1: not an mbox file"}},
		{name: "empty mbox", from: "e.mbox", files: map[string]string{"e.mbox": ""}},
		{name: "nothing there", files: map[string]string{"readme.txt": "hello"}, fatal: "no mailboxes found"},
		{name: "maildir with stray files", files: map[string]string{
			"cur/1.a:2,S": "one", "cur/.2.hidden": "not mail", "cur/subdir/": "", "cur/link": "->/nonexistent",
			"new/": "", "README": "junk beside the Maildir", "cur/3.c:2,S": "three",
		}, imported: 2, warnings: 2},
		{name: "dangling link", files: map[string]string{
			"box/a.eml": "Subject: a\n\n", "box/b.eml": "->/nonexistent/b.eml", "box/c.eml": "Subject: c\n\n",
		}, imported: 2, warnings: 1},
		{name: "unreadable file", files: map[string]string{
			"box/a.eml": "Subject: a\n\n", "box/b.eml/": "", "box/c.eml": "Subject: c\n\n",
		}, imported: 2},
		{name: "names not valid UTF-8", files: map[string]string{
			"cur/1.a:2,S": "inbox", "new/": "", ".caf\xe9/cur/1.b:2,S": "cafe", ".caf\xe9/new/": "",
			"eml/caf\xe9.eml": "Subject: x\n\n",
		}, imported: 3, warnings: 1},
		{name: "message of 0 bytes", files: map[string]string{
			"md/cur/1.a:2,S": "", "md/new/": "", "e/empty.eml": "", "m.mbox": "From a Mon Mar  4 05:06:07 2019\n\n",
		}, imported: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			impTree(t, dir, tc.files, t0)
			repo := impRepo(t)
			var ev impEvents
			res := Import(ctx, repo, &ImportOptions{Account: "x", From: filepath.Join(dir, tc.from), Format: tc.format}, &ev)
			if tc.fatal != "" {
				if res.Fatal == nil || !strings.Contains(res.Fatal.Error(), tc.fatal) {
					t.Fatalf("Import() fatal = %v, want %q", res.Fatal, tc.fatal)
				}
				return
			}
			if res.Fatal != nil {
				t.Fatalf("Import() fatal = %v", res.Fatal)
			}
			if got := res.New + res.Dup; got != int64(tc.imported) || len(impPlaces(t, repo, "x")) != tc.imported {
				t.Errorf("imported %d, want %d", got, tc.imported)
			}
			if len(res.Errors) != len(tc.errs) {
				t.Fatalf("errors = %v, want %q", res.Errors, tc.errs)
			}
			for i, e := range res.Errors {
				if !strings.Contains(e.Error(), tc.errs[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e, tc.errs[i])
				}
			}
			if res.Warnings != int64(tc.warnings) || ev.n(progress.Warning) != tc.warnings {
				t.Errorf("warnings = %d (%d events: %v), want %d", res.Warnings, ev.n(progress.Warning), ev.texts(progress.Warning), tc.warnings)
			}
			if ev.n(progress.Failed) != len(tc.errs) {
				t.Errorf("%d failed events, want %d", ev.n(progress.Failed), len(tc.errs))
			}
			if res.OK() != (len(tc.errs) == 0) {
				t.Errorf("OK() = %v with errors %v", res.OK(), res.Errors)
			}
		})
	}
}

type impEvents struct{ list []progress.Event }

func (e *impEvents) Report(ev progress.Event) { e.list = append(e.list, ev) }
func (e *impEvents) n(k progress.Kind) int {
	n := 0
	for _, ev := range e.list {
		if ev.Kind == k {
			n++
		}
	}
	return n
}
func (e *impEvents) texts(k progress.Kind) []string {
	var out []string
	for _, ev := range e.list {
		if ev.Kind == k {
			out = append(out, ev.Text)
		}
	}
	return out
}

// TestImportDryRun counts exactly what the real import then does, and
// writes nothing.
func TestImportDryRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	files := map[string]string{"new/": ""}
	for i, m := range sample.Generate(30, 5) {
		files[fmt.Sprintf("cur/%d.x:2,S", i)] = string(m.Raw) // Generate repeats some messages: dedup
	}
	files["m.mbox"] = "From a Mon Mar  4 05:06:07 2019\nS: 1\n\n"
	impTree(t, dir, files, t0)
	repo := impRepo(t)
	before, _ := repo.Totals(ctx)
	dry := Import(ctx, repo, &ImportOptions{Account: "a", From: dir, DryRun: true}, nil)
	after, _ := repo.Totals(ctx)
	if !dry.OK() || before != after {
		t.Fatalf("dry run: %v; totals %+v -> %+v", dry.Err(), before, after)
	}
	if accts, _ := repo.Accounts(ctx); len(accts) != 0 {
		t.Errorf("dry run created accounts %v", accts)
	}
	if nilRepo := Import(ctx, nil, &ImportOptions{Account: "a", From: dir, DryRun: true}, nil); nilRepo.New != dry.New || nilRepo.Dup != dry.Dup {
		t.Errorf("dry run without an archive = %d/%d, with = %d/%d", nilRepo.New, nilRepo.Dup, dry.New, dry.Dup)
	}
	real := Import(ctx, repo, &ImportOptions{Account: "a", From: dir}, nil)
	if real.New != dry.New || real.Dup != dry.Dup || real.Bytes != dry.Bytes || real.New == 0 {
		t.Errorf("dry run counted %d new %d dup %d bytes; import did %d, %d, %d", dry.New, dry.Dup, dry.Bytes, real.New, real.Dup, real.Bytes)
	}
	again := Import(ctx, repo, &ImportOptions{Account: "a", From: dir, DryRun: true}, nil)
	if again.New != 0 || again.Dup != 0 || again.Known != real.New+real.Dup {
		t.Errorf("dry run after the import = %d new %d dup %d known", again.New, again.Dup, again.Known)
	}
}

// TestImportBigMessage: a 200 MB message, in a Maildir and in an mbox,
// is streamed into the archive: never held in memory.
func TestImportBigMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB")
	}
	ctx := context.Background()
	dir := t.TempDir()
	const size = 200 << 20
	line := []byte("From the depths, a line of a very large message body that goes on\n")
	var body bytes.Buffer
	body.WriteString("Subject: big\n\n")
	for body.Len() < size-len(line) {
		body.Write(line)
	}
	raw := body.Bytes()
	os.MkdirAll(filepath.Join(dir, "md", "cur"), 0o755)
	os.MkdirAll(filepath.Join(dir, "md", "new"), 0o755)
	os.WriteFile(filepath.Join(dir, "md", "cur", "1.big:2,S"), raw, 0o644)
	f, _ := os.Create(filepath.Join(dir, "big.mbox"))
	mailfmt.WriteMboxMessage(f, &mailfmt.Message{Body: bytes.NewReader(raw), Size: int64(len(raw)), Date: t0})
	f.Close()
	want := archive.HashBytes(raw)
	raw, body = nil, bytes.Buffer{}
	runtime.GC()

	repo := impRepo(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	alloc := ms.TotalAlloc
	peak := peakHeap(func() {
		res := Import(ctx, repo, &ImportOptions{Account: "big", From: dir}, nil)
		if !res.OK() || res.New != 1 || res.Dup != 1 {
			t.Errorf("Import() = %d new %d dup, %v; want the message once new, once a duplicate", res.New, res.Dup, res.Err())
		}
	})
	runtime.ReadMemStats(&ms)
	t.Logf("allocated %d MB in all, heap peak %d MB", (ms.TotalAlloc-alloc)>>20, peak>>20)
	if peak > 100<<20 {
		t.Errorf("heap peaked at %d MB importing a 200 MB message twice: it was held in memory", peak>>20)
	}
	n := 0
	for e, err := range repo.Messages(ctx, archive.Query{Account: "big"}) {
		n++
		if err != nil || e.Hash != want {
			t.Errorf("%s: hash %s size %d, %v; want %s", e.FolderName, e.Hash, e.Size, err, want)
		}
	}
	if n != 2 {
		t.Errorf("%d places, want 2", n)
	}
	if err := repo.VerifyMessage(ctx, want); err != nil {
		t.Errorf("VerifyMessage() = %v", err)
	}
}

// peakHeap runs fn and samples the heap while it runs.
func peakHeap(fn func()) uint64 {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > max {
				max = ms.HeapAlloc
			}
			select {
			case <-done:
				peak <- max
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	return <-peak
}

// BenchmarkImportMaildir imports a Maildir of generated mail (~25 KB a
// message) into a new archive.
func BenchmarkImportMaildir(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	files := map[string]string{"new/": ""}
	var size int64
	for i, m := range sample.Generate(2000, 9) {
		files[fmt.Sprintf("cur/%d.M%dP1.bench:2,S", 1e9+i, i)] = string(m.Raw)
		size += int64(len(m.Raw))
	}
	impTree(b, dir, files, t0)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		repo, err := archive.Open(ctx, b.TempDir(), &archive.Options{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res := Import(ctx, repo, &ImportOptions{Account: "bench", From: dir}, nil)
		if !res.OK() {
			b.Fatal(res.Err())
		}
		b.StopTimer()
		repo.Close()
		b.StartTimer()
	}
}
