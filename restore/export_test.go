package restore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/sample"
	"github.com/mailkeep/mailkeep/restore"
)

// place is one archived message as the tests expect it back.
type place struct {
	folder string
	raw    []byte
	flags  []string
	date   time.Time
	gone   bool
	uid    uint32
}

func (p place) hash() string { return archive.HashBytes(p.raw).String() }

// exportArchive makes an archive whose account "work" holds the awkward
// messages, n generated ones over the sample folders (keywords, zones,
// duplicates), and one message gone from the server.
func exportArchive(t testing.TB, n int, extra ...place) (*archive.Repo, []place) {
	t.Helper()
	ctx := context.Background()
	repo, err := archive.Open(ctx, t.TempDir(), &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	var places []place
	zone := time.FixedZone("", -4*3600)
	for i, m := range sample.Awkward() {
		flags := [][]string{nil, {`\Seen`}, {`\Seen`, "$Label1"}, {`\Answered`, `\Flagged`, "$Forwarded"}}[i%4]
		places = append(places, place{folder: "INBOX", raw: m.Raw, flags: flags, date: time.Date(2021, 5, 1+i, 8, 30, 0, 0, zone)})
	}
	for _, m := range sample.Generate(n, 11) {
		places = append(places, place{folder: m.Folder, raw: m.Raw, flags: m.Flags, date: m.Date})
	}
	places = append(places, place{folder: "Sent", raw: []byte("Subject: deleted on the server\r\n\r\ngone\r\n"),
		date: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), gone: true})
	places = append(places, extra...)
	acct, err := repo.Account(ctx, "work", "imap")
	if err != nil {
		t.Fatal(err)
	}
	folders := map[string]*archive.Folder{}
	uids := map[string]uint32{}
	for i := range places {
		p := &places[i]
		f := folders[p.folder]
		if f == nil {
			if f, err = repo.Folder(ctx, acct, p.folder); err != nil {
				t.Fatal(err)
			}
			f.Delimiter, f.UIDValidity = "/", 7
			if err := repo.UpdateFolder(ctx, f); err != nil {
				t.Fatal(err)
			}
			folders[p.folder] = f
		}
		h, _, err := repo.PutMessage(ctx, p.raw)
		if err != nil {
			t.Fatal(err)
		}
		uids[p.folder]++
		p.uid = uids[p.folder]
		if err := repo.AddMessage(ctx, &archive.Message{Folder: f.ID, UIDValidity: 7, UID: p.uid, Hash: h,
			Size: int64(len(p.raw)), Flags: p.flags, InternalDate: p.date}); err != nil {
			t.Fatal(err)
		}
		if p.gone {
			if err := repo.MarkGone(ctx, f.ID, 7, []uint32{p.uid}, nil, archive.GoneExpunged, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return repo, places
}

func present(places []place) []place {
	var out []place
	for _, p := range places {
		if !p.gone {
			out = append(out, p)
		}
	}
	return out
}

// archived returns "folder sha256" of every place of an account.
func archived(t testing.TB, repo *archive.Repo, account string) []string {
	t.Helper()
	var out []string
	for e, err := range repo.Messages(context.Background(), archive.Query{Account: account}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.FolderName+" "+e.Hash.String())
	}
	slices.Sort(out)
	return out
}

func keysOf(places []place) []string {
	var out []string
	for _, p := range places {
		out = append(out, p.folder+" "+p.hash())
	}
	slices.Sort(out)
	return out
}

// TestExportRoundTrip: archive -> files -> import -> the same messages
// in the same folders, every one compared by SHA-256 (with the line ends
// the export chose: LF for Maildir and mbox by default, converted only
// where import can undo it); Maildir also keeps flags and dates;
// importing the export again adds nothing, and importing it into the
// source archive recognises every message, LF form or not.
func TestExportRoundTrip(t *testing.T) {
	for _, format := range []mailfmt.Format{mailfmt.Maildir, mailfmt.Mbox, mailfmt.EML} {
		for _, lines := range []mailfmt.LineEndings{"", mailfmt.LinesExact, mailfmt.LinesCRLF} {
			t.Run(string(format)+"/"+string(lines), func(t *testing.T) { exportRoundTrip(t, format, lines) })
		}
	}
}

func exportRoundTrip(t *testing.T, format mailfmt.Format, lines mailfmt.LineEndings) {
	ctx := context.Background()
	repo, places := exportArchive(t, 60)
	out := filepath.Join(t.TempDir(), "out")
	res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: format, Out: out, LineEndings: lines}, nil)
	if !res.OK() {
		t.Fatalf("Export() = %v", res.Err())
	}
	want := present(places)
	written := lines
	if written == "" {
		written = mailfmt.DefaultLineEndings(format)
	}
	converted := 0
	for i := range want {
		var c bool
		if want[i].raw, c = mailfmt.ConvertLineEndings(want[i].raw, written); c {
			converted++
		}
	}
	if written != mailfmt.LinesExact && converted == 0 {
		t.Fatalf("no message has line ends to convert to %s: the test tests nothing", written)
	}
	if res.Messages != int64(len(want)) {
		t.Errorf("Export() exported %d, want %d", res.Messages, len(want))
	}
	assertNoTemp(t, out)

	back, err := archive.Open(ctx, t.TempDir(), &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	ir := backup.Import(ctx, back, &backup.ImportOptions{Account: "back", From: out}, nil)
	if !ir.OK() || ir.New+ir.Dup != int64(len(want)) {
		t.Fatalf("Import() = %d new, %d dup, %v; want %d messages", ir.New, ir.Dup, ir.Err(), len(want))
	}
	if got, w := archived(t, back, "back"), keysOf(want); !slices.Equal(got, w) {
		t.Errorf("after the round trip the archive holds\n%s\nwant\n%s", strings.Join(diff(got, w), "\n"), strings.Join(diff(w, got), "\n"))
	}
	// Flags and dates.
	byHash := map[string]place{}
	for _, p := range want {
		byHash[p.folder+" "+p.hash()] = p
	}
	for e, err := range back.Messages(ctx, archive.Query{Account: "back"}) {
		if err != nil {
			t.Fatal(err)
		}
		p := byHash[e.FolderName+" "+e.Hash.String()]
		if format == mailfmt.Maildir && !sameFlags(e.Flags, p.flags) && e.FolderName != "Archive/2019" {
			t.Errorf("%s uid %d: flags %v, want %v", p.folder, p.uid, e.Flags, p.flags)
		}
		if !e.InternalDate.Equal(p.date) && e.FolderName != "Archive/2019" {
			t.Errorf("%s uid %d: date %v, want %v", p.folder, p.uid, e.InternalDate, p.date)
		}
	}
	// The same source again: nothing new.
	again := backup.Import(ctx, back, &backup.ImportOptions{Account: "back", From: out}, nil)
	if !again.OK() || again.New != 0 || again.Dup != 0 || again.Known != int64(len(want)) {
		t.Errorf("re-import: %d new, %d dup, %d known, %v; want all %d known", again.New, again.Dup, again.Known, again.Err(), len(want))
	}
	if got := archived(t, back, "back"); len(got) != len(want) {
		t.Errorf("after re-import %d places, want %d", len(got), len(want))
	}
	// Into the first archive: every message deduplicated.
	dedup := backup.Import(ctx, repo, &backup.ImportOptions{Account: "copy", From: out}, nil)
	if !dedup.OK() || dedup.New != 0 || dedup.Dup != int64(len(want)) {
		t.Errorf("import into the source archive: %d new, %d dup, %v; want all %d deduplicated", dedup.New, dedup.Dup, dedup.Err(), len(want))
	}
	if got, w := archived(t, repo, "copy"), keysOf(present(places)); !slices.Equal(got, w) {
		t.Errorf("the source archive's copy holds\n%s\nwant the archived bytes\n%s", strings.Join(diff(got, w), "\n"), strings.Join(diff(w, got), "\n"))
	}
}

func sameFlags(a, b []string) bool { return archive.JoinFlags(a) == archive.JoinFlags(b) }

// diff lists what a has and b does not.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func assertNoTemp(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.HasSuffix(e.Name(), ".tmp") || (e.Type().IsRegular() && filepath.Base(filepath.Dir(p)) == "tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// TestExportFiles checks the files themselves: byte-exact Maildir and
// .eml files, mtimes, names.
func TestExportFiles(t *testing.T) {
	ctx := context.Background()
	repo, places := exportArchive(t, 20)
	want := map[string]int{}
	for _, p := range present(places) {
		want[p.hash()]++
	}
	for _, format := range []mailfmt.Format{mailfmt.Maildir, mailfmt.EML} {
		t.Run(string(format), func(t *testing.T) {
			out := t.TempDir()
			if res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: format, Out: out,
				LineEndings: mailfmt.LinesExact}, nil); !res.OK() {
				t.Fatal(res.Err())
			}
			got := map[string]int{}
			var names []string
			filepath.WalkDir(out, func(p string, e fs.DirEntry, err error) error {
				if err != nil || !e.Type().IsRegular() || e.Name() == "dovecot-keywords" || e.Name() == "maildirfolder" {
					return nil
				}
				b, _ := os.ReadFile(p)
				h := archive.HashBytes(b).String()
				got[h]++
				st, _ := os.Stat(p)
				for _, pl := range places {
					if pl.hash() == h && pl.folder != "Archive/2019" && !st.ModTime().Equal(pl.date) && !strings.Contains(p, "Archive") {
						t.Errorf("%s: mtime %v, want INTERNALDATE %v", p, st.ModTime(), pl.date)
					}
				}
				if filepath.Base(filepath.Dir(p)) == "INBOX" {
					names = append(names, e.Name())
				}
				return nil
			})
			for h, n := range want {
				if got[h] != n {
					t.Errorf("message %s: %d files, want %d", h[:12], got[h], n)
				}
			}
			if format == mailfmt.EML {
				sorted := slices.Clone(names)
				slices.Sort(sorted)
				var dates []string
				for _, n := range sorted {
					dates = append(dates, n[:18])
				}
				if !slices.IsSorted(dates) || len(names) == 0 || !strings.HasSuffix(names[0], ".eml") {
					t.Errorf("eml names %v not sorted by date", names)
				}
			}
		})
	}
}

// TestExportSelection: --folder, --exclude, --since, --before,
// --include-deleted.
func TestExportSelection(t *testing.T) {
	ctx := context.Background()
	repo, places := exportArchive(t, 40)
	count := func(keep func(place) bool) int64 {
		n := int64(0)
		for _, p := range places {
			if keep(p) {
				n++
			}
		}
		return n
	}
	cut := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		opts   restore.ExportOptions
		expect func(place) bool
	}{
		{"all", restore.ExportOptions{}, func(p place) bool { return !p.gone }},
		{"include deleted", restore.ExportOptions{IncludeDeleted: true}, func(p place) bool { return true }},
		{"folder pattern", restore.ExportOptions{Include: config.FolderFilter{Include: []string{"Archive/*", "Sent"}}.Match},
			func(p place) bool { return !p.gone && (p.folder == "Sent" || strings.HasPrefix(p.folder, "Archive/")) }},
		{"exclude", restore.ExportOptions{Include: config.FolderFilter{Exclude: []string{"INBOX"}}.Match},
			func(p place) bool { return !p.gone && p.folder != "INBOX" }},
		{"since", restore.ExportOptions{Since: cut}, func(p place) bool { return !p.gone && !p.date.Before(cut) }},
		{"before", restore.ExportOptions{Before: cut}, func(p place) bool { return !p.gone && p.date.Before(cut) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Account, o.Format, o.Out = "work", mailfmt.EML, t.TempDir()
			res := restore.Export(ctx, repo, &o, nil)
			if want := count(tc.expect); !res.OK() || res.Messages != want || want == 0 {
				t.Errorf("Export() = %d messages, %v; want %d", res.Messages, res.Err(), want)
			}
			files := 0
			filepath.WalkDir(o.Out, func(p string, e fs.DirEntry, err error) error {
				if err == nil && e.Type().IsRegular() {
					files++
				}
				return nil
			})
			if int64(files) != res.Messages {
				t.Errorf("%d files for %d messages", files, res.Messages)
			}
		})
	}
}

func TestExportRefusesNonEmpty(t *testing.T) {
	ctx := context.Background()
	repo, places := exportArchive(t, 5)
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "precious"), []byte("x"), 0o644)
	res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: mailfmt.Mbox, Out: out}, nil)
	if !errors.Is(res.Fatal, restore.ErrNotEmpty) || res.Messages != 0 || !strings.Contains(res.Fatal.Error(), out) {
		t.Fatalf("Export() into a non-empty dir = %v, want ErrNotEmpty naming %s", res.Fatal, out)
	}
	res = restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: mailfmt.Mbox, Out: out, Force: true}, nil)
	if !res.OK() || res.Messages != int64(len(present(places))) {
		t.Fatalf("Export(Force) = %d, %v", res.Messages, res.Err())
	}
	if b, _ := os.ReadFile(filepath.Join(out, "precious")); string(b) != "x" {
		t.Error("Force touched a file it did not write")
	}
	t.Run("dry run", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "new")
		res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: mailfmt.Maildir, Out: out, DryRun: true}, nil)
		if !res.OK() || res.Messages != int64(len(present(places))) {
			t.Errorf("dry run = %d, %v", res.Messages, res.Err())
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dry run created %s", out)
		}
	})
	t.Run("no such account", func(t *testing.T) {
		res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "nobody", Format: mailfmt.Maildir, Out: t.TempDir()}, nil)
		if !errors.Is(res.Fatal, archive.ErrNotFound) {
			t.Errorf("Export(nobody) = %v, want ErrNotFound", res.Fatal)
		}
	})
}

// TestExportDamagedMessage: a message the archive cannot read back is
// recorded, the others are exported, and no partial file is left.
func TestExportDamagedMessage(t *testing.T) {
	ctx := context.Background()
	repo, places := exportArchive(t, 10)
	victim := present(places)[3]
	vh := archive.HashBytes(victim.raw)
	b, err := repo.Locate(ctx, vh)
	pack, off, length := b.Pack, b.Offset, b.Length
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(repo.PackPath(pack), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xff}, int(min(length, 16))), off+length/2)
	f.Close()
	for _, format := range []mailfmt.Format{mailfmt.Maildir, mailfmt.Mbox, mailfmt.EML} {
		t.Run(string(format), func(t *testing.T) {
			out := t.TempDir()
			var ev events
			res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: format, Out: out}, &ev)
			if res.Fatal != nil || len(res.Errors) != 1 || res.Messages != int64(len(present(places))-1) {
				t.Fatalf("Export() = %d messages, fatal %v, errors %v; want one error", res.Messages, res.Fatal, res.Errors)
			}
			if msg := res.Errors[0].Error(); !strings.Contains(msg, fmt.Sprintf("work/INBOX uid %d", victim.uid)) {
				t.Errorf("error %q does not name work/INBOX uid %d", msg, victim.uid)
			}
			if ev.count(progress.Failed) != 1 {
				t.Errorf("%d failed events, want 1", ev.count(progress.Failed))
			}
			assertNoTemp(t, out)
		})
	}
}

type events struct{ list []progress.Event }

func (e *events) Report(ev progress.Event) { e.list = append(e.list, ev) }
func (e *events) count(k progress.Kind) int {
	n := 0
	for _, ev := range e.list {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// TestExportFullDisk: a full disk stops the export cleanly: an error
// that says so, nothing half-written.
func TestExportFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	ctx := context.Background()
	repo, _ := exportArchive(t, 200)
	for _, format := range []mailfmt.Format{mailfmt.Maildir, mailfmt.Mbox, mailfmt.EML} {
		t.Run(string(format), func(t *testing.T) {
			out := t.TempDir()
			if b, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", out).CombinedOutput(); err != nil {
				t.Skipf("mount tmpfs: %v: %s", err, b)
			}
			defer exec.Command("umount", out).Run()
			res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: format, Out: out}, nil)
			if !mailfmt.DiskFull(res.Fatal) || !strings.Contains(res.Fatal.Error(), "export stopped") {
				t.Fatalf("Export() onto a full disk: fatal = %v", res.Fatal)
			}
			if len(res.Errors) != 0 {
				t.Errorf("errors besides the full disk: %v", res.Errors)
			}
			assertNoTemp(t, out)
			if format == mailfmt.Maildir {
				// What was written is complete and readable.
				boxes, _, _ := mailfmt.Discover(out, mailfmt.Maildir)
				n := 0
				for _, b := range boxes {
					r, _ := b.Open()
					for m, err := r.Next(); err == nil; m, err = r.Next() {
						raw := new(bytes.Buffer)
						raw.ReadFrom(m.Body)
						if int64(raw.Len()) != m.Size {
							t.Errorf("%s: short file", m.Path)
						}
						n++
					}
					r.Close()
				}
				if int64(n) != res.Messages || n == 0 {
					t.Errorf("%d files readable, %d reported exported", n, res.Messages)
				}
			}
		})
	}
}

// BenchmarkExportMaildir: generated mail, ~25 KB on average.
func BenchmarkExportMaildir(b *testing.B) {
	ctx := context.Background()
	repo, places := exportArchive(b, 2000)
	var size int64
	for _, p := range present(places) {
		size += int64(len(p.raw))
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(b.TempDir(), "out")
		res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: mailfmt.Maildir, Out: out}, nil)
		if !res.OK() {
			b.Fatal(res.Err())
		}
	}
}

// TestExportAgain: with Force, a second export into the same directory
// brings it up to date: Maildir and .eml add only what is new (Maildir
// flags follow the archive), mbox files are replaced.
func TestExportAgain(t *testing.T) {
	ctx := context.Background()
	for _, format := range []mailfmt.Format{mailfmt.Maildir, mailfmt.EML, mailfmt.Mbox} {
		t.Run(string(format), func(t *testing.T) {
			repo, places := exportArchive(t, 30)
			n := int64(len(present(places)))
			out := t.TempDir()
			first := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: format, Out: out}, nil)
			if !first.OK() || first.Messages != n {
				t.Fatalf("first export: %d, %v", first.Messages, first.Err())
			}
			// A flag change and a new message in the archive.
			inbox := present(places)[0]
			var folderID int64
			acct, _ := repo.LookupAccount(ctx, "work")
			folders, _ := repo.Folders(ctx, acct)
			for _, f := range folders {
				if f.Name == "INBOX" {
					folderID = f.ID
				}
			}
			if err := repo.SetFlags(ctx, folderID, 7, inbox.uid, []string{`\Flagged`, `\Seen`}); err != nil {
				t.Fatal(err)
			}
			raw := []byte("Subject: new since the first export\r\n\r\nnew\r\n")
			h, _, _ := repo.PutMessage(ctx, raw)
			repo.AddMessage(ctx, &archive.Message{Folder: folderID, UIDValidity: 7, UID: 9999, Hash: h, Size: int64(len(raw)),
				InternalDate: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)})
			repo.Commit(ctx)

			again := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: format, Out: out, Force: true}, nil)
			if !again.OK() {
				t.Fatal(again.Err())
			}
			files := countFiles(t, out)
			switch format {
			case mailfmt.Mbox:
				if again.Messages != n+1 {
					t.Errorf("mbox export again: %d messages, want %d (files replaced)", again.Messages, n+1)
				}
				back := backup.Import(ctx, nil, &backup.ImportOptions{Account: "x", From: out, DryRun: true}, nil)
				if back.New+back.Dup != n+1 {
					t.Errorf("the mbox files hold %d messages, want %d", back.New+back.Dup, n+1)
				}
			default:
				if again.Messages != 1 || again.Unchanged != n {
					t.Errorf("export again: %d written, %d unchanged; want 1 and %d", again.Messages, again.Unchanged, n)
				}
				if files != int(n+1) {
					t.Errorf("%d message files, want %d", files, n+1)
				}
			}
			if format == mailfmt.Maildir {
				boxes, _, _ := mailfmt.Discover(out, mailfmt.Maildir)
				found := false
				for _, b := range boxes {
					r, _ := b.Open()
					for m, err := r.Next(); err == nil; m, err = r.Next() {
						body := new(bytes.Buffer)
						body.ReadFrom(m.Body)
						if bytes.Equal(body.Bytes(), inbox.raw) && b.Name == "INBOX" {
							found = true
							if archive.JoinFlags(m.Flags) != `\Flagged \Seen` {
								t.Errorf("flags after export again = %v, want \\Flagged \\Seen", m.Flags)
							}
						}
					}
					r.Close()
				}
				if !found {
					t.Error("message not found in the Maildir")
				}
			}
		})
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() && e.Name() != "dovecot-keywords" && e.Name() != "maildirfolder" {
			n++
		}
		return nil
	})
	return n
}
