package backup

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// nsServer is a server that lists, besides the user's own folders, other
// users' folders shared with the user and public folders, as Cyrus does:
// one readable, one lookup-only, one public; and a personal folder the
// user may read but not delete from.
func nsServer(t *testing.T) (*clBackend, []*clMsg) {
	t.Helper()
	b := newMemBackend(t, nil)
	srv := b.mem
	srv.SetNamespaces(&imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}},
		Other:    []imap.NamespaceDescriptor{{Prefix: "Other Users/", Delim: '/'}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: "Shared Folders/", Delim: '/'}},
	})
	var all []*clMsg
	for _, f := range []string{"Keep", "Other Users/bob/Shared", "Other Users/bob/Private", "Shared Folders/News"} {
		if err := srv.AddMailbox(b.user, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"INBOX", "Keep", "Other Users/bob/Shared", "Other Users/bob/Private", "Shared Folders/News"} {
		msgs := clCorpus(f, 6)
		b.add(t, f, msgs)
		all = append(all, msgs...)
	}
	srv.SetRights(b.user, "Other Users/bob/Shared", "lrswipkxtecda") // even full rights: not the user's mail
	srv.SetRights(b.user, "Other Users/bob/Private", "l")
	srv.SetRights(b.user, "Shared Folders/News", "lrs")
	srv.SetRights(b.user, "Keep", "lrswi")
	return b, all
}

// nsExpect checks, through the server's own inspection API (a lookup-only
// folder cannot be examined), that it holds exactly the messages keep
// selects.
func nsExpect(t *testing.T, b *clBackend, msgs []*clMsg, keep func(*clMsg) bool) {
	t.Helper()
	want := map[string]map[archive.Hash]bool{}
	for _, m := range msgs {
		if want[m.folder] == nil {
			want[m.folder] = map[archive.Hash]bool{}
		}
		if keep(m) {
			want[m.folder][m.hash()] = true
		}
	}
	for folder, hashes := range want {
		got := map[archive.Hash]bool{}
		for _, m := range b.mem.Messages(b.user, folder) {
			got[archive.HashBytes(m.Raw)] = true
		}
		if len(got) != len(hashes) {
			t.Errorf("%s: server holds %d messages, want %d", folder, len(got), len(hashes))
		}
		for h := range hashes {
			if !got[h] {
				t.Errorf("%s: message %s was deleted", folder, h.String()[:12])
			}
		}
	}
}

func archivedFolders(t *testing.T, repo *archive.Repo) map[string]int {
	t.Helper()
	out := map[string]int{}
	for e, err := range repo.Messages(context.Background(), archive.Query{Account: "acct"}) {
		if err != nil {
			t.Fatal(err)
		}
		out[e.FolderName]++
	}
	return out
}

// TestBackupNamespaces: by default only the personal namespace is backed
// up, with one line about what was left out; asked for, other users' and
// public folders are too, and the lookup-only one is skipped once, not a
// failure.
func TestBackupNamespaces(t *testing.T) {
	b, _ := nsServer(t)
	repo, _ := clRepo(t)
	rec := &clRec{}
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: b.dial(""), Backoff: time.Millisecond}, rec)
	if !res.OK() {
		t.Fatalf("backup: %v", res.Err())
	}
	got := archivedFolders(t, repo)
	if len(got) != 2 || got["INBOX"] != 6 || got["Keep"] != 6 {
		t.Errorf("archived folders = %v, want INBOX and Keep with 6 messages each", got)
	}
	if !rec.has(progress.Info, "left out 3 folders that are not the account's own (2 in the other users' namespace, 1 in the shared namespace)") {
		t.Errorf("no line about the folders left out; events %+v", rec.events)
	}
	text, err := repo.Namespaces(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := namespace.Decode(text)
	if err != nil || ns.Kind("Other Users/x/y") != namespace.Other || !ns.FromServer {
		t.Errorf("recorded namespaces = %q, %v", text, err)
	}

	for run := 0; run < 2; run++ {
		rec = &clRec{}
		res = IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: b.dial(""), Backoff: time.Millisecond,
			Namespaces: namespace.Wanted{namespace.Personal, namespace.Other, namespace.Shared}}, rec)
		if !res.OK() || len(res.Errors) > 0 {
			t.Fatalf("backup with every namespace, run %d: %v", run, res.Err())
		}
		if len(res.NoAccess) != 1 || res.NoAccess[0] != "Other Users/bob/Private" {
			t.Errorf("run %d: NoAccess = %q, want the lookup-only folder", run, res.NoAccess)
		}
		n := 0
		for _, e := range rec.events {
			if strings.Contains(e.Text, "no right to read it") {
				n++
				if e.Folder != "Other Users/bob/Private" || !strings.Contains(e.Text, `MYRIGHTS "l"`) {
					t.Errorf("skip line = %+v", e)
				}
			}
			if e.Kind == progress.Failed {
				t.Errorf("run %d: failure event %+v", run, e)
			}
		}
		if n != 1 {
			t.Errorf("run %d: %d lines about the lookup-only folder, want 1", run, n)
		}
	}
	got = archivedFolders(t, repo)
	if got["Other Users/bob/Shared"] != 6 || got["Shared Folders/News"] != 6 || got["Other Users/bob/Private"] != 0 {
		t.Errorf("archived folders = %v, want the shared and public ones too, not the lookup-only one", got)
	}
}

// TestBackupUnreadablePersonal: a folder of the user's own that cannot be
// selected for want of the read right is skipped, not a failure.
func TestBackupUnreadablePersonal(t *testing.T) {
	b := newMemBackend(t, nil)
	if err := b.mem.AddMailbox(b.user, "Locked"); err != nil {
		t.Fatal(err)
	}
	b.add(t, "INBOX", clCorpus("INBOX", 3))
	b.mem.SetRights(b.user, "Locked", "lw")
	repo, _ := clRepo(t)
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: b.dial(""), Backoff: time.Millisecond}, nil)
	if !res.OK() || len(res.NoAccess) != 1 || res.NoAccess[0] != "Locked" {
		t.Fatalf("backup = ok %v, NoAccess %q, err %v; want ok and Locked skipped", res.OK(), res.NoAccess, res.Err())
	}
}

// TestBackupPatternMatchesNothing: a folder pattern of the account that
// matches no folder is a warning (with the folder names), not an error.
func TestBackupPatternMatchesNothing(t *testing.T) {
	b := newMemBackend(t, nil)
	b.add(t, "INBOX", clCorpus("INBOX", 2))
	repo, _ := clRepo(t)
	f := config.FolderFilter{Exclude: []string{"Trash", "Spam"}}
	rec := &clRec{}
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: b.dial(""), Include: f.Match, Filter: &f}, rec)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	if !rec.has(progress.Warning, `exclude pattern "Spam" matches no folder`) || rec.has(progress.Warning, `"Trash" matches`) {
		t.Errorf("warnings = %+v, want one for Spam only", rec.events)
	}
}

// TestCleanupOnlyOwnFolders: cleanup deletes old mail in the user's own
// folders only: never in other users' or public folders (even with full
// rights there), never where MYRIGHTS lacks the delete rights.
func TestCleanupOnlyOwnFolders(t *testing.T) {
	b, all := nsServer(t)
	repo, _ := clRepo(t)
	a := b.account(clCutoff(365))
	rec := &clRec{}
	res := clRunCtx(t, context.Background(), repo, a, rec)
	if res.Fatal != nil {
		t.Fatal(res.Fatal)
	}
	old := func(m *clMsg) bool { return dayBefore(m.date, a.Before) }
	nsExpect(t, b, all, func(m *clMsg) bool { return m.folder != "INBOX" || !old(m) })
	for _, f := range res.Folders {
		if f.Name != "INBOX" && f.Name != "Keep" && f.Name != "Trash" {
			t.Errorf("cleanup looked at %s", f.Name)
		}
	}
	n, _ := count(all, inFolder("Keep", old))
	if k := clFolder(t, res, "Keep"); k.Deleted != 0 || k.Kept[KeptNoRights] != n || n == 0 {
		t.Errorf("Keep: deleted %d, kept %v; want 0 deleted, %d kept for %s", k.Deleted, k.Kept, n, KeptNoRights)
	}
	if !rec.has(progress.Warning, `MYRIGHTS is "lrswi": no right to delete here`) {
		t.Errorf("no line naming the missing rights; events %+v", rec.events)
	}
	if in := clFolder(t, res, "INBOX"); in.Deleted == 0 {
		t.Errorf("INBOX: nothing deleted")
	}

	// A pattern that names another user's folder matches none of the
	// account's own: an error, nothing deleted.
	a = b.account(clCutoff(365))
	a.Folders = config.FolderFilter{Include: []string{"Other Users/*"}}
	res = clRun(t, repo, a)
	if res.Fatal == nil || !strings.Contains(res.Fatal.Error(), `folder pattern "Other Users/*" matches no folder`) {
		t.Errorf("cleanup --folder 'Other Users/*' = %v, want a no-match error", res.Fatal)
	}
	nsExpect(t, b, all, func(m *clMsg) bool { return m.folder != "INBOX" || !old(m) })
}

// TestCleanupRefusesOtherNamespace: the check right before deleting
// refuses a folder outside the personal namespace even if it got that far.
func TestCleanupRefusesOtherNamespace(t *testing.T) {
	b, _ := nsServer(t)
	c, err := b.dial("")(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns, err := namespace.Discover(c.Client, nil, '/')
	if err != nil {
		t.Fatal(err)
	}
	cl := &cleaner{ctx: context.Background(), a: &CleanupAccount{Name: "acct", DryRun: true}, conn: c, ns: ns, res: &CleanupResult{}}
	fx := &cleanFolder{mb: mailbox{name: "Other Users/bob/Shared"}, fr: CleanupFolder{Kept: map[string]int64{}}}
	refused, err := cl.mayDelete(fx, 1, []candidate{{}, {}})
	if !refused || err != nil || fx.fr.Kept[KeptNotOwn] != 2 {
		t.Errorf("mayDelete(another user's folder) = %v, %v, kept %v; want refused, 2 %s", refused, err, fx.fr.Kept, KeptNotOwn)
	}
}
