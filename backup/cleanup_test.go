package backup

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/faultproxy"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// The cleanup scenarios run against the in-process server and against a
// private Dovecot: the same steps, the same expectations.
var clScenarios = []struct {
	name string
	run  func(t *testing.T, b *clBackend)
}{
	{"OlderThan", clOlderThan},
	{"DamagedCopyKept", clDamaged},
	{"UIDValidityChanged", clUIDValidity},
	{"ArrivedAfterBackup", clArrived},
	{"OtherDeletedUntouched", clOtherDeleted},
	{"CancelBetweenStoreAndExpunge", clCancel},
	{"DroppedConnection", clDropped},
	{"DroppedConnectionRetried", clDroppedRetried},
	{"DryRun", clDryRun},
	{"PatternMatchesNothing", clPattern},
	{"ByDateHeader", clDateHeader},
	{"LargerThan", clLargerThan},
}

func TestCleanupInProcess(t *testing.T) {
	for _, sc := range clScenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, newMemBackend(t, nil)) })
	}
}

func TestCleanupDovecot(t *testing.T) {
	srv := dovecot.Shared(t)
	for _, sc := range clScenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, newDovecotBackend(t, srv)) })
	}
}

// clSetup seeds INBOX (24 messages) and Archive/2019 (12) over six years;
// mutate may change them first. The cutoff lies about three years back,
// between two message days.
func clSetup(t *testing.T, b *clBackend, mutate func(inbox, arch []*clMsg)) (msgs []*clMsg, cutoff time.Time, old func(*clMsg) bool) {
	t.Helper()
	inbox, arch := clCorpus("INBOX", 24), clCorpus("Archive/2019", 12)
	if mutate != nil {
		mutate(inbox, arch)
	}
	b.add(t, "INBOX", inbox)
	b.add(t, "Archive/2019", arch)
	cutoff = clCutoff(3*365 + 10)
	old = func(m *clMsg) bool { return dayBefore(m.date, cutoff) }
	return append(inbox, arch...), cutoff, old
}

func count(msgs []*clMsg, f func(*clMsg) bool) (n int64, bytes int64) {
	for _, m := range msgs {
		if f(m) {
			n++
			bytes += int64(len(m.served))
		}
	}
	return n, bytes
}

func inFolder(folder string, f func(*clMsg) bool) func(*clMsg) bool {
	return func(m *clMsg) bool { return m.folder == folder && f(m) }
}

func not(f func(*clMsg) bool) func(*clMsg) bool { return func(m *clMsg) bool { return !f(m) } }

func clOlderThan(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	res := clRun(t, repo, b.account(cutoff))
	if !res.OK() {
		t.Fatalf("Cleanup() not OK: %v; folders %+v", res.Err(), res.Folders)
	}
	wantN, wantBytes := count(msgs, old)
	if wantN == 0 || wantN == int64(len(msgs)) {
		t.Fatalf("test corpus: %d of %d messages old; want some of each", wantN, len(msgs))
	}
	if res.Deleted != wantN || res.Candidates != wantN || res.Bytes != wantBytes || res.Kept != 0 {
		t.Errorf("Cleanup() deleted %d (%d bytes) of %d candidates, kept %d; want %d (%d bytes) of %d, kept 0",
			res.Deleted, res.Bytes, res.Candidates, res.Kept, wantN, wantBytes, wantN)
	}
	if n, _ := count(msgs, inFolder("INBOX", old)); clFolder(t, res, "INBOX").Deleted != n {
		t.Errorf("INBOX deleted %d, want %d", clFolder(t, res, "INBOX").Deleted, n)
	}
	if len(res.QuotaBefore) != 0 {
		t.Errorf("QuotaBefore = %v from a server without QUOTA", res.QuotaBefore)
	}
	clExpect(t, b, repo, msgs, not(old))
	for _, folder := range []string{"INBOX", "Archive/2019"} {
		gone := clGone(t, repo, folder)
		for _, m := range msgs {
			if m.folder != folder {
				continue
			}
			want := ""
			if old(m) {
				want = archive.GoneCleanup
			}
			if gone[m.hash()] != want {
				t.Errorf("archive: %s gone reason %q, want %q", clSubject(m), gone[m.hash()], want)
			}
		}
	}
	// Nothing left to do: a second run deletes nothing.
	again := clRun(t, repo, b.account(cutoff))
	if !again.OK() || again.Deleted != 0 || again.Candidates != 0 {
		t.Errorf("second Cleanup() deleted %d of %d candidates (err %v), want 0 of 0", again.Deleted, again.Candidates, again.Err())
	}
}

func clDamaged(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	if r := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: b.dial("")}, nil); !r.OK() {
		t.Fatalf("backup: %v", r.Err())
	}
	var victim *clMsg
	for _, m := range msgs {
		if m.folder == "INBOX" && old(m) {
			victim = m
			break
		}
	}
	pack := clFlip(t, repo, victim.hash())
	vr, err := repo.Verify(context.Background(), "", nil)
	if err != nil || len(vr.Damaged) != 1 || vr.Damaged[0].Hash != victim.hash() {
		t.Fatalf("Verify() = %+v, %v; want exactly %s damaged", vr, err, victim.hash())
	}
	res := clRun(t, repo, b.account(cutoff))
	in := clFolder(t, res, "INBOX")
	if in.Kept[KeptDamaged] != 1 || res.OK() {
		t.Errorf("INBOX kept %v, OK %v; want one %s and not OK", in.Kept, res.OK(), KeptDamaged)
	}
	named := false
	for _, it := range in.Items {
		if it.Kept == KeptDamaged && it.Hash == victim.hash() && strings.Contains(it.Detail, filepath.Base(pack)) {
			named = true
		}
	}
	if !named {
		t.Errorf("damaged copy not named in the report: %+v", in.Items)
	}
	clServerHolds(t, b, msgs, func(m *clMsg) bool { return !old(m) || m == victim })
	clArchiveHolds(t, repo, msgs, func(m *clMsg) bool { return m != victim })
}

func clUIDValidity(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	a := b.account(cutoff)
	a.hooks = &cleanupHooks{afterBackup: func() { b.bumpUIDV(t, "INBOX") }}
	res := clRun(t, repo, a)
	in := clFolder(t, res, "INBOX")
	n, _ := count(msgs, inFolder("INBOX", old))
	if in.Deleted != 0 || in.Kept[KeptUIDValidity] != n || res.OK() {
		t.Errorf("INBOX deleted %d, kept %v, OK %v; want 0 deleted, %d %s, not OK", in.Deleted, in.Kept, res.OK(), n, KeptUIDValidity)
	}
	an, _ := count(msgs, inFolder("Archive/2019", old))
	if got := clFolder(t, res, "Archive/2019").Deleted; got != an {
		t.Errorf("Archive/2019 deleted %d, want %d (another folder is not affected)", got, an)
	}
	clExpect(t, b, repo, msgs, func(m *clMsg) bool { return m.folder == "INBOX" || !old(m) })
}

func clArrived(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	late := clNew("INBOX", 900, clDay(4000), clDay(4000), 700, []string{`\Seen`})
	a := b.account(cutoff)
	a.hooks = &cleanupHooks{afterBackup: func() { b.add(t, "INBOX", []*clMsg{late}) }}
	res := clRun(t, repo, a)
	if in := clFolder(t, res, "INBOX"); in.Kept[KeptNotArchived] != 1 {
		t.Errorf("INBOX kept %v, want one %s", in.Kept, KeptNotArchived)
	}
	clServerHolds(t, b, append(msgs, late), func(m *clMsg) bool { return !old(m) || m == late })
	clArchiveHolds(t, repo, msgs, func(*clMsg) bool { return true })
}

func clOtherDeleted(t *testing.T, b *clBackend) {
	var oldDel, newDel *clMsg
	msgs, cutoff, old := clSetup(t, b, func(inbox, _ []*clMsg) {
		newDel, oldDel = inbox[1], inbox[len(inbox)-2]
		newDel.flags = []string{`\Deleted`, `\Seen`}
		oldDel.flags = []string{`\Deleted`}
	})
	if old(newDel) || !old(oldDel) {
		t.Fatal("test corpus: wrong messages picked")
	}
	repo, _ := clRepo(t)
	res := clRun(t, repo, b.account(cutoff))
	if in := clFolder(t, res, "INBOX"); in.Kept[KeptAlreadyDeleted] != 1 {
		t.Errorf("INBOX kept %v, want one %s", in.Kept, KeptAlreadyDeleted)
	}
	if !res.OK() {
		t.Errorf("Cleanup() not OK: %v", res.Err())
	}
	// Both stay, still \Deleted (clExpect compares flags).
	clExpect(t, b, repo, msgs, func(m *clMsg) bool { return !old(m) || m == oldDel })
}

func clCancel(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, dir := clRepo(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := b.account(cutoff)
	a.BatchSize = 3
	var calls int
	var flaggedFolder string
	var flagged []uint32
	a.hooks = &cleanupHooks{afterStore: func(folder string, uids []uint32) {
		calls++
		if calls == 2 {
			flaggedFolder, flagged = folder, uids
			cancel()
		}
	}}
	res := clRunCtx(t, ctx, repo, a, nil)
	if !errors.Is(res.Err(), context.Canceled) {
		t.Fatalf("interrupted Cleanup() error = %v, want context.Canceled", res.Err())
	}
	st := b.state(t, flaggedFolder)
	var left []uint32
	for _, sm := range st {
		if strings.Contains(sm.flags, `\Deleted`) {
			left = append(left, sm.uid)
		}
	}
	if len(left) != len(flagged) || len(flagged) == 0 {
		t.Fatalf("after the interruption %d messages are \\Deleted on the server, want the %d of the batch (%v)", len(left), len(flagged), flagged)
	}
	repo.Close() // as if the process died: nothing more is committed

	repo = clOpen(t, dir)
	res = clRun(t, repo, b.account(cutoff))
	if !res.OK() {
		t.Fatalf("re-run not OK: %v", res.Err())
	}
	if res.Recovered < int64(len(flagged)) {
		t.Errorf("re-run completed %d of an interrupted run, want at least %d", res.Recovered, len(flagged))
	}
	clExpect(t, b, repo, msgs, not(old))
	clNothingPending(t, repo)
	clArchivedFlagsRestored(t, repo, msgs, old)
}

// clArchivedFlagsRestored checks the archive's flags of deleted messages
// are those they had before mailkeep flagged them \Deleted.
func clArchivedFlagsRestored(t *testing.T, repo *archive.Repo, msgs []*clMsg, old func(*clMsg) bool) {
	t.Helper()
	want := map[archive.Hash]string{}
	for _, m := range msgs {
		if old(m) {
			want[m.hash()] = archive.JoinFlags(m.flags)
		}
	}
	for e, err := range repo.Messages(context.Background(), archive.Query{Account: "acct", IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := want[e.Hash]; ok && archive.JoinFlags(e.Flags) != w {
			t.Errorf("archive: %s/%d flags %q, want %q as before the cleanup", e.FolderName, e.UID, archive.JoinFlags(e.Flags), w)
		}
	}
}

func clNothingPending(t *testing.T, repo *archive.Repo) {
	t.Helper()
	acct, err := repo.LookupAccount(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := repo.Folders(context.Background(), acct)
	for _, f := range fs {
		if p, err := repo.PendingDeletes(context.Background(), f.ID); err != nil || len(p) != 0 {
			t.Errorf("%s: %d intents left in the archive (%v), want none", f.Name, len(p), err)
		}
	}
}

func clDropped(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	p, err := faultproxy.New(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a := b.account(cutoff)
	a.Dial = b.dial(p.Addr())
	a.Retries = -1
	a.BatchSize = 4
	var dropped []uint32
	a.hooks = &cleanupHooks{afterStore: func(folder string, uids []uint32) {
		if dropped == nil {
			dropped = uids
			p.DropAll() // between STORE and EXPUNGE
		}
	}}
	res := clRun(t, repo, a)
	if res.OK() || len(res.Errors) == 0 {
		t.Fatalf("Cleanup() through a dropped connection: OK %v, errors %v; want a folder error", res.OK(), res.Errors)
	}
	if len(dropped) == 0 {
		t.Fatal("the connection was never dropped")
	}
	res = clRun(t, repo, b.account(cutoff))
	if !res.OK() || res.Recovered < int64(len(dropped)) {
		t.Fatalf("re-run: OK %v (%v), recovered %d; want OK and at least %d recovered", res.OK(), res.Err(), res.Recovered, len(dropped))
	}
	clExpect(t, b, repo, msgs, not(old))
	clNothingPending(t, repo)
	clArchivedFlagsRestored(t, repo, msgs, old)
}

func clDroppedRetried(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	p, err := faultproxy.New(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a := b.account(cutoff)
	a.Dial = b.dial(p.Addr())
	a.BatchSize = 4
	drops := 0
	a.hooks = &cleanupHooks{afterStore: func(string, []uint32) {
		if drops == 0 {
			drops++
			p.DropAll()
		}
	}}
	rec := &clRec{}
	res := clRunCtx(t, context.Background(), repo, a, rec)
	if !res.OK() {
		t.Fatalf("Cleanup() with one dropped connection not OK: %v", res.Err())
	}
	if !rec.has(progress.Retry, "reconnecting") || res.Recovered == 0 {
		t.Errorf("no reconnect seen (recovered %d)", res.Recovered)
	}
	clExpect(t, b, repo, msgs, not(old))
	clNothingPending(t, repo)
}

func clDryRun(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	a := b.account(cutoff)
	a.DryRun = true
	res := clRun(t, repo, a)
	if !res.OK() {
		t.Fatalf("dry run not OK: %v", res.Err())
	}
	want := map[archive.Hash]*clMsg{}
	for _, m := range msgs {
		if old(m) {
			want[m.hash()] = m
		}
	}
	listed := 0
	for _, f := range res.Folders {
		for _, it := range f.Items {
			m := want[it.Hash]
			switch {
			case it.Kept != "":
				t.Errorf("dry run kept %s uid %d: %s", f.Name, it.UID, it.Detail)
			case m == nil || m.folder != f.Name:
				t.Errorf("dry run lists %s uid %d (%q), which is not old", f.Name, it.UID, it.Subject)
			case it.Size != int64(len(m.served)) || !it.Date.Equal(m.date) || it.Subject != clSubject(m) || it.UID == 0:
				t.Errorf("dry run lists %s uid %d as %d bytes, %s, %q; want %d bytes, %s, %q", f.Name, it.UID, it.Size, it.Date,
					it.Subject, len(m.served), m.date, clSubject(m))
			default:
				listed++
			}
		}
	}
	if listed != len(want) || res.Deleted != int64(len(want)) {
		t.Errorf("dry run lists %d, counts %d; want %d", listed, res.Deleted, len(want))
	}
	clExpect(t, b, repo, msgs, func(*clMsg) bool { return true })
	for _, folder := range []string{"INBOX", "Archive/2019"} {
		for h, reason := range clGone(t, repo, folder) {
			if reason != "" {
				t.Errorf("dry run: archive marks %s gone (%s)", h, reason)
			}
		}
	}
}

func clPattern(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	for _, ff := range []config.FolderFilter{
		{Include: []string{"Archive/*", "Archve/*"}},
		{Exclude: []string{"Junk-typo"}},
	} {
		a := b.account(cutoff)
		a.Folders = ff
		res := clRun(t, repo, a)
		if !errors.Is(res.Fatal, ErrNoMatch) || res.Backup != nil || len(res.Folders) != 0 {
			t.Errorf("Cleanup(%+v) = fatal %v, backup %v, %d folders; want ErrNoMatch before doing anything", ff, res.Fatal, res.Backup != nil, len(res.Folders))
		}
		if res.Fatal != nil && !strings.Contains(res.Fatal.Error(), append(ff.Include, ff.Exclude...)[len(ff.Include)+len(ff.Exclude)-1]) {
			t.Errorf("error %q does not name the pattern", res.Fatal)
		}
	}
	clServerHolds(t, b, msgs, func(*clMsg) bool { return true })
	// A pattern that matches cleans only its folders.
	a := b.account(cutoff)
	a.Folders = config.FolderFilter{Include: []string{"Archive/*"}}
	res := clRun(t, repo, a)
	if !res.OK() || len(res.Folders) != 1 {
		t.Fatalf("Cleanup(Archive/*) = %v, %d folders", res.Err(), len(res.Folders))
	}
	clExpectServer(t, b, msgs, func(m *clMsg) bool { return m.folder == "INBOX" || !old(m) })
	clArchiveHolds(t, repo, msgs, func(m *clMsg) bool { return m.folder == "Archive/2019" })
}

func clDateHeader(t *testing.T, b *clBackend) {
	var unreadable *clMsg
	msgs, cutoff, _ := clSetup(t, b, func(inbox, arch []*clMsg) {
		// Received recently, written long ago: only the Date: header is old.
		for i, m := range append(append([]*clMsg{}, inbox...), arch...) {
			*m = *clNew(m.folder, 500+i, clDay(5+i), m.hdrDate, len(m.raw), m.flags)
		}
		unreadable = inbox[len(inbox)-1]
		*unreadable = *clNew("INBOX", 999, clDay(4000), time.Time{}, 600, nil)
	})
	old := func(m *clMsg) bool { return !m.hdrDate.IsZero() && dayBefore(m.hdrDate, cutoff) }
	repo, _ := clRepo(t)
	// By INTERNALDATE only the one with the unreadable header is old.
	a := b.account(cutoff)
	a.DryRun = true
	res := clRun(t, repo, a)
	if in := clFolder(t, res, "INBOX"); res.Deleted != 1 || len(in.Items) != 1 || in.Items[0].Hash != unreadable.hash() {
		t.Fatalf("by internaldate would delete %d, want 1", res.Deleted)
	}
	a = b.account(cutoff)
	a.ByDateHeader = true
	res = clRun(t, repo, a)
	if n, _ := count(msgs, old); res.Deleted != n || n == 0 {
		t.Errorf("by date-header deleted %d, want %d", res.Deleted, n)
	}
	clExpect(t, b, repo, msgs, func(m *clMsg) bool { return !old(m) || m == unreadable })
}

func clLargerThan(t *testing.T, b *clBackend) {
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	large := func(m *clMsg) bool { return len(m.served) > 20<<10 }
	a := b.account(cutoff)
	a.LargerThan = 20 << 10
	res := clRun(t, repo, a)
	both := func(m *clMsg) bool { return old(m) && large(m) }
	if n, _ := count(msgs, both); res.Deleted != n || n == 0 {
		t.Errorf("older and larger: deleted %d, want %d", res.Deleted, n)
	}
	clExpect(t, b, repo, msgs, not(both))
	// A size alone is criterion enough.
	a = b.account(time.Time{})
	a.LargerThan = 20 << 10
	res = clRun(t, repo, a)
	if n, _ := count(msgs, func(m *clMsg) bool { return large(m) && !old(m) }); res.Deleted != n || n == 0 {
		t.Errorf("larger only: deleted %d, want %d", res.Deleted, n)
	}
	clExpect(t, b, repo, msgs, not(large))
}

func clServerHolds(t *testing.T, b *clBackend, msgs []*clMsg, keep func(*clMsg) bool) {
	t.Helper()
	clExpectServer(t, b, msgs, keep)
}

func clArchiveHolds(t *testing.T, repo *archive.Repo, msgs []*clMsg, which func(*clMsg) bool) {
	t.Helper()
	var sel []*clMsg
	for _, m := range msgs {
		if which(m) {
			sel = append(sel, m)
		}
	}
	clExpectArchive(t, repo, sel)
}
