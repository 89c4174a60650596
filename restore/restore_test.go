package restore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
)

// TestRestoreFromArchive: a restore into an empty account brings every
// folder back with its special use, flags and INTERNALDATE (zone kept);
// deleted mail only with IncludeDeleted; AsOf gives the state of a moment.
func TestRestoreFromArchive(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	seedSample(src, "u", 50)
	// The archive's clock, moved by hand: first_seen and gone_since have
	// one-second resolution, and the moment of AsOf must lie between the
	// two backups.
	var mu sync.Mutex
	clock := time.Now().Truncate(time.Second)
	archiveNow := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	repo := newRepoWith(t, &archive.Options{Now: archiveNow})
	ctx := context.Background()
	sa.backupFn(repo, nil)(ctx)
	before := snapshot(t, sa)
	advance(time.Second)
	asOf := archiveNow()
	advance(time.Second)

	// Later: a message deleted on the source, one added.
	gone := src.Messages("u", "INBOX")[0]
	src.Expunge("u", "INBOX", gone.UID)
	src.AddMessage("u", "INBOX", []byte("Subject: later\r\nMessage-ID: <later@x>\r\n\r\nlater\r\n"), nil, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if r := sa.backupFn(repo, nil)(ctx); !r.OK() || r.Gone != 1 {
		t.Fatalf("second backup: gone %d, err %v", r.Gone, r.Err())
	}
	now := snapshot(t, sa)

	t.Run("latest", func(t *testing.T) {
		dst, ta := inproc(t, "empty", nil)
		r := Restore(ctx, repo, ta.target(), &Options{Source: "old"}, nil)
		checkResult(t, r, int64(count(now)), 0)
		compare(t, now, snapshot(t, ta), compareOpts{})
		for _, mb := range dst.Mailboxes("u") {
			if mb.Name == "Sent" && !slices.Contains(mb.SpecialUse, imap.MailboxAttrSent) {
				t.Errorf("Sent was created without its special use: %v", mb.SpecialUse)
			}
		}
		r = Restore(ctx, repo, ta.target(), &Options{Source: "old"}, nil)
		checkResult(t, r, 0, 0)
	})
	t.Run("include-deleted", func(t *testing.T) {
		_, ta := inproc(t, "empty", nil)
		r := Restore(ctx, repo, ta.target(), &Options{Source: "old", IncludeDeleted: true}, nil)
		checkResult(t, r, int64(count(now)+1), 0)
		d := snapshot(t, ta)
		if len(d["INBOX"]) != len(now["INBOX"])+1 {
			t.Errorf("INBOX restored with %d messages, want %d + the deleted one", len(d["INBOX"]), len(now["INBOX"]))
		}
		compare(t, now, d, compareOpts{extra: true})
		compare(t, before, d, compareOpts{extra: true})
	})
	t.Run("as-of", func(t *testing.T) {
		_, ta := inproc(t, "empty", nil)
		r := Restore(ctx, repo, ta.target(), &Options{Source: "old", AsOf: asOf}, nil)
		checkResult(t, r, int64(count(before)), 0)
		compare(t, before, snapshot(t, ta), compareOpts{})
	})
	t.Run("folder filter and dry run", func(t *testing.T) {
		_, ta := inproc(t, "empty", nil)
		only := func(name string, _ rune) bool { return name == "Sent" }
		r := Restore(ctx, repo, ta.target(), &Options{Source: "old", Include: only, DryRun: true}, nil)
		if r.Err() != nil || len(r.Folders) != 1 || r.Folders[0].Copied != int64(len(now["Sent"])) || !r.Folders[0].Created {
			t.Fatalf("dry run: %+v err %v", r.Folders, r.Err())
		}
		if n := count(snapshot(t, ta)); n != 0 {
			t.Fatalf("dry run wrote %d messages", n)
		}
		r = Restore(ctx, repo, ta.target(), &Options{Source: "old", Include: only}, nil)
		checkResult(t, r, int64(len(now["Sent"])), 0)
		d := snapshot(t, ta)
		if len(d["Sent"]) != len(now["Sent"]) || count(d) != len(now["Sent"]) {
			t.Errorf("restored %d messages, %d in Sent; want only Sent's %d", count(d), len(d["Sent"]), len(now["Sent"]))
		}
	})
	t.Run("unknown account", func(t *testing.T) {
		_, ta := inproc(t, "empty", nil)
		r := Restore(ctx, repo, ta.target(), &Options{Source: "nobody"}, nil)
		if r.Fatal == nil {
			t.Fatal("restore of an account the archive does not hold did not fail")
		}
	})
}

// TestRestoreAfterLostLedger: the ledger is gone (a new archive, a
// crash before the checkpoint): everything on the target is adopted, not
// appended again.
func TestRestoreAfterLostLedger(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	seedSample(src, "u", 30)
	_, ta := inproc(t, "new", nil)
	ctx := context.Background()
	repo := newRepo(t)
	checkResult(t, Migrate(ctx, repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil), -1, 0)
	if _, err := repo.Totals(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := newRepo(t)
	r := Migrate(ctx, fresh, ta.target(), &Options{Source: "old"}, sa.backupFn(fresh, nil), nil)
	checkResult(t, r, 0, int64(count(snapshot(t, sa))))
	compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{})
}

// TestUncheckpointedFolderWaits: while a migration's backup runs, a folder
// whose metadata is not checkpointed yet (no delimiter, no special use)
// is not mapped: "Archive/2019" would otherwise become one odd name.
func TestUncheckpointedFolderWaits(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	acct, _ := repo.Account(ctx, "old", "imap")
	f, _ := repo.Folder(ctx, acct, "Archive/2019")
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, ta := inproc(t, "new", nil)
	e := newEngine(ctx, repo, ta.target(), &Options{Source: "old"}, nil)
	defer e.close()
	if err := e.start(); err != nil {
		t.Fatal(err)
	}
	e.backupRunning = true
	if err := e.refreshSources(); err != nil {
		t.Fatal(err)
	}
	if len(e.srcList) != 0 {
		t.Fatalf("folder mapped before its metadata was checkpointed: %v", e.srcList[0].m)
	}
	f.Delimiter, f.UIDValidity = "/", 7
	if err := repo.UpdateFolder(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.refreshSources(); err != nil {
		t.Fatal(err)
	}
	if len(e.srcList) != 1 || e.srcList[0].m.Target != "Archive/2019" {
		t.Fatalf("mapping after the checkpoint: %+v", e.srcList)
	}
}
