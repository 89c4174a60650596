package backup

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/sample"
)

func ordinary(n int, seed uint64) [][]byte {
	var out [][]byte
	for _, m := range sample.Generate(n, seed) {
		out = append(out, m.Raw)
	}
	return out
}

// TestPOP3ByteExact backs up every awkward shape of message and checks
// each archived copy against what the server holds; a second run
// retrieves nothing.
func TestPOP3ByteExact(t *testing.T) {
	forEachPOP3(t, func(t *testing.T, tg *pop3Target) {
		tg.add(t, awkwardPOP3()...)
		tg.add(t, ordinary(40, 3)...)
		repo := openRepo(t, t.TempDir())
		res, col := pop3Run(t, repo, tg, nil)
		if !res.OK() {
			t.Fatalf("POP3() = %v", res.Err())
		}
		n := checkPOP3Archive(t, repo, tg, "isp")
		if n < 55 {
			t.Fatalf("server holds only %d messages", n)
		}
		if got := res.New + res.Seen; got != int64(n) {
			t.Errorf("New+Seen = %d, want %d", got, n)
		}
		if items := len(col.kind(progress.Item)); items != n {
			t.Errorf("%d Item events, want %d", items, n)
		}
		starts := col.kind(progress.FolderStart)
		if len(starts) != 1 || starts[0].Total != int64(n) || starts[0].Folder != "INBOX" {
			t.Errorf("FolderStart events = %+v, want one for INBOX with Total %d", starts, n)
		}
		if v, err := repo.Verify(context.Background(), "isp", nil); err != nil || !v.OK() {
			t.Fatalf("Verify() = %+v, %v", v, err)
		}

		res2, col2 := pop3Run(t, repo, tg, nil)
		if !res2.OK() || res2.New != 0 || res2.Seen != 0 || res2.Bytes != 0 {
			t.Fatalf("re-run: New %d Seen %d Bytes %d err %v, want nothing fetched", res2.New, res2.Seen, res2.Bytes, res2.Err())
		}
		if len(col2.kind(progress.FolderStart)) != 0 {
			t.Errorf("re-run sent FolderStart: %s", col2.texts(progress.FolderStart))
		}
		if tg.srv != nil {
			for _, c := range tg.srv.Commands() {
				if strings.HasPrefix(c, "DELE") {
					t.Errorf("a run without a delete policy sent %q", c)
				}
			}
		}
		checkPOP3Archive(t, repo, tg, "isp")
	})
}

// TestPOP3Incremental: only new mail is retrieved; mail deleted by
// another client is marked gone (expunged), never removed from the
// archive.
func TestPOP3Incremental(t *testing.T) {
	forEachPOP3(t, func(t *testing.T, tg *pop3Target) {
		tg.add(t, ordinary(20, 11)...)
		repo := openRepo(t, t.TempDir())
		if res, _ := pop3Run(t, repo, tg, nil); !res.OK() || res.New+res.Seen != 20 {
			t.Fatalf("first run: %+v %v", res, res.Err())
		}
		uidls := tg.serverUIDLs(t)
		tg.removeOutside(t, uidls[3], uidls[7])
		tg.add(t, ordinary(5, 12)...)
		res, _ := pop3Run(t, repo, tg, nil)
		if !res.OK() || res.New+res.Seen != 5 || res.Gone != 2 {
			t.Fatalf("second run: new %d seen %d gone %d err %v; want 5 retrieved, 2 gone", res.New, res.Seen, res.Gone, res.Err())
		}
		checkPOP3Archive(t, repo, tg, "isp")
		all := archived(t, repo, "isp", true)
		for _, u := range []string{uidls[3], uidls[7]} {
			e := all[u]
			if e == nil || e.GoneSince.IsZero() || e.GoneReason != archive.GoneExpunged {
				t.Errorf("uidl %s deleted by another client: archived as %+v, want kept and gone (expunged)", u, e)
			}
		}
	})
}

// TestPOP3Delete: with delete: true every message leaves the server, but
// only after it is archived; the archive records who deleted it.
func TestPOP3Delete(t *testing.T) {
	forEachPOP3(t, func(t *testing.T, tg *pop3Target) {
		tg.add(t, awkwardPOP3()...)
		tg.add(t, ordinary(30, 5)...)
		want := tg.truth(t)
		repo := openRepo(t, t.TempDir())
		res, _ := pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
		if !res.OK() {
			t.Fatal(res.Err())
		}
		if res.Deleted != int64(len(want)) {
			t.Errorf("Deleted = %d, want %d", res.Deleted, len(want))
		}
		if left := tg.serverUIDLs(t); len(left) != 0 {
			t.Errorf("server still holds %d messages", len(left))
		}
		all := archived(t, repo, "isp", true)
		for uidl, sum := range want {
			e := all[uidl]
			if e == nil {
				t.Errorf("uidl %s: deleted but not archived", uidl)
				continue
			}
			if e.Hash != archive.Hash(sum) || e.GoneReason != archive.GonePOP3Deleted || e.GoneSince.IsZero() {
				t.Errorf("uidl %s: archived %x gone %v (%s); want %x, gone, %s", uidl, e.Hash[:4], e.GoneSince, e.GoneReason, sum[:4], archive.GonePOP3Deleted)
			}
			raw, err := repo.ReadMessage(context.Background(), e.Hash)
			if err != nil || archive.HashBytes(raw) != archive.Hash(sum) {
				t.Errorf("uidl %s: read back: %v", uidl, err)
			}
		}
		res2, _ := pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
		if !res2.OK() || res2.New+res2.Seen+res2.Deleted+res2.Gone != 0 {
			t.Errorf("re-run on an empty maildrop: %+v", res2)
		}
	})
}

// TestPOP3DeleteAfter: messages leave the server once they have been in
// the archive as long as delete_after says, and not before.
func TestPOP3DeleteAfter(t *testing.T) {
	forEachPOP3(t, func(t *testing.T, tg *pop3Target) {
		tg.add(t, ordinary(10, 21)...)
		repo := openRepo(t, t.TempDir())
		month := func(now time.Time) time.Time { return now.AddDate(0, 0, -30) }
		res, _ := pop3Run(t, repo, tg, func(a *POP3Account) { a.DeleteBefore = month })
		if !res.OK() || res.Deleted != 0 || res.New+res.Seen != 10 {
			t.Fatalf("first run: new %d seen %d deleted %d %v", res.New, res.Seen, res.Deleted, res.Err())
		}
		tg.add(t, ordinary(3, 22)...)
		later := time.Now().AddDate(0, 0, 31)
		res, _ = pop3Run(t, repo, tg, func(a *POP3Account) {
			a.DeleteBefore = month
			a.Now = func() time.Time { return later }
		})
		if !res.OK() || res.Deleted != 10 {
			t.Fatalf("31 days later: deleted %d, want the 10 old ones; %v", res.Deleted, res.Err())
		}
		if left := tg.serverUIDLs(t); len(left) != 3 {
			t.Fatalf("server holds %d messages, want the 3 archived today", len(left))
		}
		checkPOP3Archive(t, repo, tg, "isp")
		gone := 0
		for _, e := range archived(t, repo, "isp", true) {
			if e.GoneReason == archive.GonePOP3Deleted {
				gone++
			}
		}
		if gone != 10 {
			t.Errorf("%d places recorded as deleted by mailkeep, want 10", gone)
		}
	})
}

// TestPOP3DryRun shows what would be retrieved and deleted and changes
// nothing anywhere.
func TestPOP3DryRun(t *testing.T) {
	forEachPOP3(t, func(t *testing.T, tg *pop3Target) {
		tg.add(t, ordinary(6, 31)...)
		dir := t.TempDir()
		repo := openRepo(t, dir)
		res, col := pop3Run(t, repo, tg, func(a *POP3Account) { a.DryRun = true; a.Delete = true })
		if !res.OK() || res.New != 6 || res.Deleted != 0 {
			t.Fatalf("dry run: new %d deleted %d %v", res.New, res.Deleted, res.Err())
		}
		done := col.kind(progress.FolderDone)
		if len(done) != 1 || !strings.Contains(done[0].Text, "would fetch 6 messages") || !strings.Contains(done[0].Text, "would delete 6") {
			t.Errorf("FolderDone = %+v", done)
		}
		if n := strings.Count(col.texts(progress.Info), "would delete msg"); n != 6 {
			t.Errorf("%d 'would delete' lines, want 6:\n%s", n, col.texts(progress.Info))
		}
		if len(tg.serverUIDLs(t)) != 6 {
			t.Error("dry run changed the maildrop")
		}
		if tot, _ := repo.Totals(context.Background()); tot.Blobs != 0 || tot.Places != 0 {
			t.Errorf("dry run wrote to the archive: %+v", tot)
		}
		if accts, _ := repo.Accounts(context.Background()); len(accts) != 0 {
			t.Errorf("dry run created accounts: %v", accts)
		}
		// After a real run, a dry run with nothing new says so.
		if res, _ := pop3Run(t, repo, tg, nil); !res.OK() {
			t.Fatal(res.Err())
		}
		res, col = pop3Run(t, repo, tg, func(a *POP3Account) { a.DryRun = true })
		if !res.OK() || res.New != 0 {
			t.Fatalf("dry run after backup: new %d %v", res.New, res.Err())
		}
		if done := col.kind(progress.FolderDone); len(done) != 1 || !strings.Contains(done[0].Text, "would fetch 0 messages") {
			t.Errorf("FolderDone = %+v", done)
		}
	})
}
