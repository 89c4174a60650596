package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/restore"
)

// TestMigrate runs a migration between every ordered pair of servers
// (in-process, Dovecot, Cyrus in both layouts; the same kind twice too):
// the first run copies everything the target takes and skips, one by
// one, exactly what it refuses; a re-run copies nothing; flag changes,
// new mail and an expunge on the source bring over only the new and the
// changed (the target keeps what the source deleted); with the archive
// lost, a new one adopts everything on the target and copies nothing; a
// restore from the archive into an empty account of the target's kind
// gives the same.
func TestMigrate(t *testing.T) {
	for _, from := range Servers() {
		for _, to := range Servers() {
			t.Run(from.Name()+"->"+to.Name(), func(t *testing.T) {
				t.Parallel()
				migrateScenario(t, from, to)
			})
		}
	}
}

func migrateScenario(t *testing.T, from, to Server) {
	ctx := context.Background()
	src, dst := from.NewAccount(t), to.NewAccount(t)
	seed(t, src, 40, 11)
	repo := newRepo(t)
	migrate := func() *restore.Result {
		return restore.Migrate(ctx, repo, target(dst), &restore.Options{Source: "old"}, backupFn(src, repo, "old"), nil)
	}

	r := migrate()
	s := Snapshot(t, src)
	want := Expect(t, s, dst)
	fm := checkCopy(t, r, s, want, dst)
	if _, _, copied, _, _, _, _ := r.Totals(); copied != int64(s.Count()-want.RefusedCount(s)) {
		t.Errorf("copied %d, want %d", copied, s.Count()-want.RefusedCount(s))
	}
	checkAltered(t, r, want, dst)
	if t.Failed() {
		return
	}

	t.Run("re-run copies nothing", func(t *testing.T) {
		r := migrate()
		checkCopy(t, r, s, want, dst)
		if _, _, copied, adopted, fl, _, _ := r.Totals(); copied+adopted+fl != 0 {
			t.Errorf("re-run: copied %d, adopted %d, flags of %d changed; want none", copied, adopted, fl)
			for _, f := range r.Folders {
				if f.Copied+f.Adopted+f.FlagsUpdated > 0 {
					t.Logf("%s <- %v: copied %d, adopted %d, flags %d", f.Target, f.Sources, f.Copied, f.Adopted, f.FlagsUpdated)
				}
			}
		}
	})

	t.Run("flag changes, new mail, an expunge", func(t *testing.T) {
		c := src.Client(t)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		var set imap.UIDSet
		for _, m := range s["INBOX"].Msgs[:3] {
			set.AddNum(m.UID)
		}
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagAnswered, "$Later"}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		// One message the target holds goes from the source.
		var gone Msg
		for _, m := range s["Archive/2019"].Msgs {
			if _, refused := want.Refused[m.Hash()]; !refused {
				gone = m
				break
			}
		}
		if _, err := c.Select(src.Name("Archive/2019"), nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.UIDSetNum(gone.UID), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.UIDExpunge(imap.UIDSetNum(gone.UID)).Close(); err != nil {
			t.Fatal(err)
		}
		src.Append(t, "Archive/2019", "", []Message{
			{Raw: []byte("Subject: late\r\nMessage-ID: <late1@x>\r\n\r\nlate 1\r\n"), Flags: []string{`\Flagged`}, Date: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
			{Raw: []byte("Subject: late\r\nMessage-ID: <late2@x>\r\n\r\nlate 2\r\n"), Date: time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)},
		})

		r := migrate()
		now := Snapshot(t, src)
		nowWant := Expect(t, now, dst)
		if r.Fatal != nil || len(r.Errors) > 0 {
			t.Fatalf("run failed: %v", r.Err())
		}
		if _, _, copied, adopted, fl, _, _ := r.Totals(); copied != 2 || adopted != 0 || fl != 3 {
			t.Errorf("copied %d, adopted %d, flags of %d carried over; want 2, 0, 3", copied, adopted, fl)
		}
		// A migration never deletes: the target keeps the expunged one.
		d := Snapshot(t, dst)
		Compare(t, dst.Server, fm.apply(nowWant.State), d, CompareOpts{ZoneLost: dst.ZoneLost, Extra: true})
		if got, want := len(d["Archive/2019"].Msgs), len(nowWant.State["Archive/2019"].Msgs)+1; got != want {
			t.Errorf("target Archive/2019 holds %d, want the source's %d + the one expunged there", got, want-1)
		}
	})

	t.Run("lost ledger: everything adopted", func(t *testing.T) {
		// A new archive knows nothing of what went before: what is on
		// the target is found there (as the target serves it, altered
		// or not), not appended a second time.
		fresh := newRepo(t)
		r := restore.Migrate(ctx, fresh, target(dst), &restore.Options{Source: "old"}, backupFn(src, fresh, "old"), nil)
		now := Snapshot(t, src)
		nowWant := Expect(t, now, dst)
		if r.Fatal != nil || len(r.Errors) > 0 {
			t.Fatalf("run failed: %v", r.Err())
		}
		taken := int64(now.Count() - nowWant.RefusedCount(now))
		if _, _, copied, adopted, _, skipped, _ := r.Totals(); copied != 0 || adopted != taken || skipped != int64(nowWant.RefusedCount(now)) {
			t.Errorf("copied %d, adopted %d, skipped %d; want 0, %d, %d", copied, adopted, skipped, taken, nowWant.RefusedCount(now))
		}
		Compare(t, dst.Server, fm.apply(nowWant.State), Snapshot(t, dst), CompareOpts{ZoneLost: dst.ZoneLost, Extra: true})
	})

	t.Run("restore into an empty account", func(t *testing.T) {
		empty := to.NewAccount(t)
		r := restore.Restore(ctx, repo, target(empty), &restore.Options{Source: "old"}, nil)
		now := Snapshot(t, src)
		want := Expect(t, now, empty)
		checkCopy(t, r, now, want, empty)
		checkAltered(t, r, want, empty)
	})
}
