package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/restore"
)

// TestBackup: a full backup is byte for byte what the server serves; a
// re-run with nothing new does nothing; new mail, a flag change and an
// expunge are each seen once; a renamed folder and a folder with a new
// UIDVALIDITY store nothing twice; the archive verifies; a restore into a
// fresh account of the same server gives back what the server served.
func TestBackup(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv Server) {
		ctx := context.Background()
		a := srv.NewAccount(t)
		if n := seed(t, a, 80, 3); n < 90 {
			t.Fatalf("%s took %d messages of the sample", a.Server, n)
		}
		repo := newRepo(t)

		// 1. Full backup.
		runBackup(t, repo, a)
		if n := archiveMatches(t, repo, a, "acct"); n < 90 {
			t.Fatalf("compared %d messages", n)
		}
		// 2. Nothing new.
		if res := runBackup(t, repo, a); res.New+res.Seen+res.Flags+res.Gone != 0 {
			t.Fatalf("no-op re-run: new %d, seen %d, flags %d, gone %d", res.New, res.Seen, res.Flags, res.Gone)
		}
		// 3. New mail, a flag change, an expunge.
		c := a.Client(t)
		a.Append(t, "INBOX", "", []Message{{Raw: []byte("Subject: later\r\n\r\nnew mail\r\n"), Date: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}})
		inbox := Snapshot(t, a)["INBOX"].Msgs
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		flagged, expunged := inbox[1].UID, inbox[2].UID
		if err := c.Store(imap.UIDSetNum(flagged), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
			Flags: []imap.Flag{imap.FlagFlagged, "$Todo"}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.UIDSetNum(expunged), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
			Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.UIDExpunge(imap.UIDSetNum(expunged)).Close(); err != nil {
			t.Fatal(err)
		}
		c.Unselect().Wait()
		if res := runBackup(t, repo, a); res.New != 1 || res.Flags != 1 || res.Gone != 1 {
			t.Fatalf("after changes: new %d flags %d gone %d, want 1 1 1", res.New, res.Flags, res.Gone)
		}
		archiveMatches(t, repo, a, "acct")

		// 4. A renamed folder: nothing stored twice.
		before, _ := repo.Totals(ctx)
		if err := c.Rename(a.Name("Lists/dovecot"), a.Name("Lists/renamed"), nil).Wait(); err != nil {
			t.Fatal(err)
		}
		runBackup(t, repo, a)
		if after, _ := repo.Totals(ctx); after.Blobs != before.Blobs {
			t.Fatalf("rename stored %d blobs again", after.Blobs-before.Blobs)
		}
		archiveMatches(t, repo, a, "acct")

		// 5. A new UIDVALIDITY: the folder deleted and made again with
		// the same mail, as a server's repair does.
		uidValidityChange(t, a, "Archive/2019")
		res := runBackup(t, repo, a)
		if after, _ := repo.Totals(ctx); after.Blobs != before.Blobs || res.New != 0 {
			t.Fatalf("UIDVALIDITY change: %d new, %d blobs stored again", res.New, after.Blobs-before.Blobs)
		}
		archiveMatches(t, repo, a, "acct")
		if v, err := repo.Verify(ctx, "", nil); err != nil || !v.OK() {
			t.Fatalf("Verify() = %+v, %v", v, err)
		}

		// 6. Restore into a fresh account of the same server.
		served := Snapshot(t, a)
		dst := srv.NewAccount(t)
		r := restore.Restore(ctx, repo, target(dst), &restore.Options{Source: "acct"}, nil)
		want := Expect(t, served, dst)
		checkCopy(t, r, served, want, dst)
		checkAltered(t, r, want, dst)
		r = restore.Restore(ctx, repo, target(dst), &restore.Options{Source: "acct"}, nil)
		if _, _, copied, adopted, _, _, _ := r.Totals(); copied != 0 || adopted != 0 || r.Err() != nil {
			t.Errorf("second restore: copied %d, adopted %d, err %v; want nothing to do", copied, adopted, r.Err())
		}
	})
}

// uidValidityChange deletes a folder and makes it again with the same
// messages (flags, dates), which gives it a new UIDVALIDITY on every
// server here (RFC 3501 2.3.1.1).
func uidValidityChange(t *testing.T, a *Account, folder string) {
	t.Helper()
	old := Snapshot(t, a)[folder]
	c := a.Client(t)
	if err := c.Delete(a.Name(folder)).Wait(); err != nil {
		t.Fatalf("DELETE %s: %v", a.Name(folder), err)
	}
	var msgs []Message
	for _, m := range old.Msgs {
		var fl []string
		if m.Flags != "" {
			fl = strings.Split(m.Flags, " ")
		}
		msgs = append(msgs, Message{Raw: m.Raw, Flags: fl, Date: m.Date})
	}
	a.Append(t, folder, "", msgs)
	now := Snapshot(t, a)[folder]
	if now.UIDValidity == old.UIDValidity {
		t.Fatalf("%s: %s kept UIDVALIDITY %d after DELETE and CREATE", a.Server, folder, old.UIDValidity)
	}
}

// TestPeekKeepsUnseen: a backup never sets \Seen.
func TestPeekKeepsUnseen(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv Server) {
		a := srv.NewAccount(t)
		a.Append(t, "INBOX", "", []Message{{Raw: []byte("Subject: unread\r\n\r\nbody\r\n"), Date: time.Date(2022, 2, 2, 2, 2, 2, 0, time.UTC)}})
		runBackup(t, newRepo(t), a)
		msgs := Snapshot(t, a)["INBOX"].Msgs
		if len(msgs) != 1 || strings.Contains(msgs[0].Flags, `\Seen`) {
			t.Fatalf("after backup the server has %v; want one message without \\Seen", msgs)
		}
	})
}
