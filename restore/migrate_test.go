package restore

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

// Migrate, re-run, flag changes, new mail and an expunge on the source,
// between every pair of servers: internal/conformance's TestMigrate.

// TestMigrateTargetsWithoutExtensions runs a migration and its re-run into
// targets lacking UIDPLUS, MOVE, SPECIAL-USE or LIST-STATUS.
func TestMigrateTargetsWithoutExtensions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts imapsrv.Options
	}{
		{"no-uidplus", imapsrv.Options{DisableUIDPlus: true}},
		{"no-move", imapsrv.Options{DisableMove: true}},
		{"no-special-use", imapsrv.Options{DisableSpecialUse: true, DisableListStatus: true}},
		{"bare", imapsrv.Options{DisableUIDPlus: true, DisableMove: true, DisableSpecialUse: true, DisableCondStore: true, DisableListStatus: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, sa := inproc(t, "old", nil)
			_, ta := inproc(t, "new", &tc.opts)
			seedSample(src, "u", 25)
			repo := newRepo(t)
			ctx := context.Background()
			r := Migrate(ctx, repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
			checkResult(t, r, int64(count(snapshot(t, sa))), 0)
			compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{})
			r = Migrate(ctx, repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
			checkResult(t, r, 0, 0)
			compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{})
		})
	}
}

// TestMigrateIntoPartialTarget: the target already holds part of the mail
// (copied by another tool: no ledger). Those messages are adopted, the
// rest appended; nothing is there twice.
func TestMigrateIntoPartialTarget(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	dst, ta := inproc(t, "new", nil)
	seedSample(src, "u", 40)
	dst.AddMailbox("u", "Sent", imap.MailboxAttrSent)
	dst.AddMailbox("u", "Archive/2019")
	held := 0
	for _, box := range []string{"INBOX", "Archive/2019"} {
		for i, m := range src.Messages("u", box) {
			if i%2 == 0 {
				dst.AddMessage("u", box, m.Raw, m.Flags, m.Date)
				held++
			}
		}
	}
	// One copy with other flags: adopted, and its flags brought in line.
	m := src.Messages("u", "INBOX")[1]
	dst.AddMessage("u", "INBOX", m.Raw, []string{"$Other"}, m.Date)
	held++
	// One copy with another INTERNALDATE: the date does not settle it, the
	// body hash does; it is adopted (a date cannot be changed without
	// appending again, and nothing is deleted on a target).
	moved := src.Messages("u", "INBOX")[3]
	dst.AddMessage("u", "INBOX", moved.Raw, moved.Flags, moved.Date.Add(-time.Hour))
	held++
	// Mail of the target's own, which must stay and not be matched.
	dst.AddMessage("u", "INBOX", []byte("Subject: mine\r\nMessage-ID: <mine@new>\r\n\r\nalready here\r\n"), nil, time.Now())

	repo := newRepo(t)
	r := Migrate(context.Background(), repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
	total := count(snapshot(t, sa))
	checkResult(t, r, int64(total-held), int64(held))
	s, d := snapshot(t, sa), snapshot(t, ta)
	movedHash := ""
	for _, x := range s["INBOX"] {
		if x.uid == moved.UID {
			movedHash = x.hash
		}
	}
	n := 0
	for i, x := range d["INBOX"] {
		if x.hash == movedHash {
			n++
			d["INBOX"][i].date = moved.Date // the one difference allowed
		}
	}
	if n != 1 {
		t.Errorf("target INBOX holds %d copies of the message filed with another date, want 1", n)
	}
	compare(t, s, d, compareOpts{extra: true})
	if n := count(d); n != total+1 {
		t.Errorf("target holds %d messages, want %d (source) + 1 of its own", n, total)
	}
}

// TestIdenticalTwinsCopiedTwice: the same bytes twice in one source folder
// are two messages there, and two on the target; a re-run and a restore
// from the archive into the same target add none.
func TestIdenticalTwinsCopiedTwice(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	_, ta := inproc(t, "new", nil)
	raw := []byte("Subject: twin\r\nMessage-ID: <twin@x>\r\n\r\nsame\r\n")
	d := time.Date(2022, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	for i := 0; i < 3; i++ {
		src.AddMessage("u", "INBOX", raw, []string{`\Seen`}, d)
	}
	repo := newRepo(t)
	ctx := context.Background()
	r := Migrate(ctx, repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
	checkResult(t, r, 3, 0)
	r = Migrate(ctx, repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
	checkResult(t, r, 0, 0)
	r = Restore(ctx, repo, ta.target(), &Options{Source: "old"}, nil)
	checkResult(t, r, 0, 0)
	if got := len(snapshot(t, ta)["INBOX"]); got != 3 {
		t.Fatalf("target INBOX has %d copies, want 3", got)
	}
	compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{})
}
