package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// TestCleanup: cleanup --older-than, first as a dry run (nothing goes),
// then for real: exactly the old mail leaves the server, every message
// it took is in the archive (read back by its hash, marked as taken off
// by cleanup, not as gone), the rest stays, and a second run finds nothing.
func TestCleanup(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv Server) {
		ctx := context.Background()
		a := srv.NewAccount(t)
		// SEARCH BEFORE compares days in the server's zone: keep two days
		// clear of the cutoff.
		cutoff := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		by := map[string][]Message{}
		for i, m := range sample.Generate(60, 21) {
			if d := m.Date.Sub(cutoff); d > -48*time.Hour && d < 48*time.Hour {
				continue
			}
			folder := "INBOX"
			if i%3 == 2 {
				folder = "Archive/2019"
			}
			by[folder] = append(by[folder], Message{Raw: m.Raw, Flags: m.Flags, Date: m.Date})
		}
		for f, msgs := range by {
			a.Append(t, f, "", msgs)
		}
		before := Snapshot(t, a)
		old := func(m Msg) bool { return m.Date.Before(cutoff) }
		var wantOld int64
		for _, f := range before {
			for _, m := range f.Msgs {
				if old(m) {
					wantOld++
				}
			}
		}
		if wantOld == 0 || wantOld == int64(before.Count()) {
			t.Fatalf("corpus: %d of %d messages old, want some of each", wantOld, before.Count())
		}
		repo := newRepo(t)
		run := func(dry bool) *backup.CleanupResult {
			res := backup.Cleanup(ctx, repo, &backup.CleanupAccount{Name: "acct", Dial: a.Dial, Before: cutoff, DryRun: dry,
				Backoff: 10 * time.Millisecond}, nil)
			if !res.OK() {
				t.Fatalf("%s: cleanup (dry run %v): %v; folders %+v", a.Server, dry, res.Err(), res.Folders)
			}
			return res
		}

		if res := run(true); res.Deleted != wantOld {
			t.Errorf("dry run would delete %d, want %d", res.Deleted, wantOld)
			for _, f := range res.Folders {
				t.Logf("folder %+v", f)
			}
			for _, f := range res.Backup.Folders {
				t.Logf("backup folder %+v", f)
			}
		}
		Compare(t, "after the dry run", before, Snapshot(t, a), CompareOpts{})

		if res := run(false); res.Deleted != wantOld || res.Kept != 0 {
			t.Errorf("cleanup deleted %d, kept %d; want %d, 0", res.Deleted, res.Kept, wantOld)
		}
		after := Snapshot(t, a)
		Compare(t, "after cleanup", before.Without(old), after, CompareOpts{})
		if n := after.Count(); n != before.Count()-int(wantOld) {
			t.Errorf("server holds %d, want %d", n, before.Count()-int(wantOld))
		}
		for canon, f := range before {
			kept := map[uint32]*archive.Entry{}
			for e, err := range repo.Messages(ctx, archive.Query{Account: "acct", Folder: a.Name(canon)}) {
				if err != nil {
					t.Fatal(err)
				}
				kept[e.UID] = e
			}
			for _, m := range f.Msgs {
				e := kept[uint32(m.UID)]
				switch {
				case e == nil:
					t.Errorf("%s uid %d: not in the archive", canon, m.UID)
				case old(m) && e.GoneReason != archive.GoneCleanup:
					t.Errorf("%s uid %d: archived with gone reason %q, want %q", canon, m.UID, e.GoneReason, archive.GoneCleanup)
				case !old(m) && e.GoneReason != "":
					t.Errorf("%s uid %d: still on the server, archived as gone (%q)", canon, m.UID, e.GoneReason)
				case e.Hash.String() != m.Hash():
					t.Errorf("%s uid %d: archived under another hash", canon, m.UID)
				}
				if e != nil {
					if raw, err := repo.ReadMessage(ctx, e.Hash); err != nil || string(raw) != string(m.Raw) {
						t.Errorf("%s uid %d: archived copy does not read back (%v)", canon, m.UID, err)
					}
				}
			}
		}
		if res := run(false); res.Deleted != 0 || res.Candidates != 0 {
			t.Errorf("second cleanup deleted %d of %d candidates, want none", res.Deleted, res.Candidates)
		}
	})
}
