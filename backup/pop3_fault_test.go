package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/faultproxy"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/pop3srv"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// retrFault returns hooks that apply f to the first RETR of message num.
func retrFault(num int, f pop3srv.Fault) (pop3srv.Hooks, *atomic.Int32) {
	var fired atomic.Int32
	return pop3srv.Hooks{Command: func(c pop3srv.Call) *pop3srv.Fault {
		if c.Verb == "RETR" && c.Num == num && fired.Add(1) == 1 {
			return &f
		}
		return nil
	}}, &fired
}

func TestPOP3WrongPassword(t *testing.T) {
	forEachPOP3(t, func(t *testing.T, tg *pop3Target) {
		tg.add(t, ordinary(2, 1)...)
		tg.pass = "not-the-password"
		repo := openRepo(t, t.TempDir())
		res, col := pop3Run(t, repo, tg, nil)
		if res.Fatal == nil || !strings.Contains(res.Fatal.Error(), "-ERR") {
			t.Fatalf("Fatal = %v, want the server's -ERR", res.Fatal)
		}
		if pop3.Temporary(res.Fatal) {
			t.Errorf("a refused login counts as temporary: %v", res.Fatal)
		}
		if n := len(col.kind(progress.Retry)); n != 0 {
			t.Errorf("%d reconnects after a refused login, want none", n)
		}
		if strings.Contains(res.Fatal.Error(), tg.pass) {
			t.Errorf("error shows the password: %v", res.Fatal)
		}
	})
}

// TestPOP3InUse: a maildrop locked by another session is retried with
// backoff; once the other session ends the backup goes through, and if it
// never does the run gives up naming IN-USE. (Dovecot answers IN-USE
// only after waiting about 12 s for the lock, so against it only the
// first case runs.)
func TestPOP3InUse(t *testing.T) {
	run := func(t *testing.T, tg *pop3Target, timeout time.Duration, giveUp bool) {
		tg.add(t, ordinary(4, 2)...)
		repo := openRepo(t, t.TempDir())
		other := tg.session(t) // holds the lock
		if giveUp {
			res, col := pop3Run(t, repo, tg, func(a *POP3Account) { a.Retries = 2 })
			if res.Fatal == nil || !strings.Contains(res.Fatal.Error(), "IN-USE") {
				t.Fatalf("Fatal = %v, want IN-USE", res.Fatal)
			}
			if n := len(col.kind(progress.Retry)); n != 2 {
				t.Errorf("%d retries, want 2", n)
			}
			if res.New+res.Seen != 0 {
				t.Errorf("stored %d messages without a session", res.New+res.Seen)
			}
		}
		// The other client logs out while we wait.
		var once sync.Once
		col := &collector{}
		rep := progress.Func(func(e progress.Event) {
			col.Report(e)
			if e.Kind == progress.Retry {
				once.Do(func() { other.Quit(context.Background()) })
			}
		})
		res := POP3(context.Background(), repo, &POP3Account{Name: "isp", Dial: tg.dial(timeout), Backoff: 50 * time.Millisecond}, rep)
		if !res.OK() || res.New+res.Seen != 4 {
			t.Fatalf("after the lock was released: %+v %v", res, res.Err())
		}
		if r := col.kind(progress.Retry); len(r) != 1 || !strings.Contains(fmt.Sprint(r[0].Err), "[IN-USE]") {
			t.Errorf("Retry events = %+v, want one for IN-USE", r)
		}
		checkPOP3Archive(t, repo, tg, "isp")
	}
	t.Run("pop3srv", func(t *testing.T) { run(t, newPOP3Srv(t, nil), 5*time.Second, true) })
	t.Run("dovecot", func(t *testing.T) {
		dc := dovecot.Start(t, &dovecot.Options{ExtraConfig: "pop3_lock_session = yes"})
		run(t, newDovecotPOP3(t, dc), 30*time.Second, false)
	})
}

// TestPOP3RetrRefused: the server refuses one message; it is reported
// by number and UIDL, the others are archived (and, with delete, only
// they are deleted), and the next run gets it.
func TestPOP3RetrRefused(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	tg := newPOP3Srv(t, &pop3srv.Options{Hooks: pop3srv.Hooks{Command: func(c pop3srv.Call) *pop3srv.Fault {
		if c.Verb == "RETR" && c.Num == 3 && refuse.Load() {
			return &pop3srv.Fault{Err: "[SYS/PERM] message unreadable"}
		}
		return nil
	}}})
	tg.add(t, ordinary(6, 4)...)
	repo := openRepo(t, t.TempDir())
	res, col := pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
	if res.Fatal != nil || len(res.Errors) != 1 {
		t.Fatalf("Fatal %v, Errors %v; want one error", res.Fatal, res.Errors)
	}
	if msg := res.Errors[0].Error(); !strings.HasPrefix(msg, "isp/INBOX msg 3 uidl uid-3: ") || !strings.Contains(msg, "unreadable") {
		t.Errorf("error = %q, want it to name isp/INBOX msg 3 uidl uid-3 and the server's text", msg)
	}
	failed := col.kind(progress.Failed)
	if len(failed) != 1 || failed[0].UIDL != "uid-3" {
		t.Errorf("Failed events = %+v, want one with UIDL uid-3", failed)
	}
	if res.New+res.Seen != 5 || res.Deleted != 5 {
		t.Errorf("stored %d, deleted %d; want 5 and 5", res.New+res.Seen, res.Deleted)
	}
	left := tg.srv.Maildrop(testUser)
	if len(left) != 1 || left[0].UID != "uid-3" {
		t.Fatalf("server holds %v, want only uid-3", left)
	}
	refuse.Store(false)
	res, _ = pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
	if !res.OK() || res.New+res.Seen != 1 || res.Deleted != 1 {
		t.Fatalf("next run: stored %d deleted %d %v", res.New+res.Seen, res.Deleted, res.Err())
	}
	if n := len(archived(t, repo, "isp", true)); n != 6 {
		t.Errorf("%d places archived, want 6", n)
	}
}

// TestPOP3Drop: the connection dies in the middle of a message; the run
// reconnects and resumes, nothing is stored twice.
func TestPOP3Drop(t *testing.T) {
	t.Run("pop3srv", func(t *testing.T) {
		hooks, fired := retrFault(7, pop3srv.Fault{Drop: true, AfterBytes: 3000})
		tg := newPOP3Srv(t, &pop3srv.Options{Hooks: hooks})
		dropScenario(t, tg, func() bool { return fired.Load() > 0 })
	})
	t.Run("dovecot", func(t *testing.T) {
		tg := newDovecotPOP3(t, dovecot.Shared(t))
		p, err := faultproxy.New(tg.serverAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		tg.addr = p.Addr()
		p.Set(faultproxy.Fault{Action: faultproxy.Drop, After: 150_000, Count: 1})
		dropScenario(t, tg, func() bool { return p.Stats().Fired == 1 })
	})
}

func dropScenario(t *testing.T, tg *pop3Target, fired func() bool) {
	msgs := ordinary(30, 9)
	for i := range msgs {
		if i%3 == 0 {
			msgs[i] = append(msgs[i], bytesN(20000, byte('a'+i%26))...)
		}
	}
	tg.add(t, msgs...)
	repo := openRepo(t, t.TempDir())
	res, col := pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
	if !res.OK() {
		t.Fatal(res.Err())
	}
	if !fired() || len(col.kind(progress.Retry)) == 0 {
		t.Fatalf("the fault did not fire or no reconnect happened (retries %d)", len(col.kind(progress.Retry)))
	}
	if res.Deleted != int64(len(msgs)) {
		t.Errorf("Deleted = %d, want %d", res.Deleted, len(msgs))
	}
	all := archived(t, repo, "isp", true)
	if len(all) != len(msgs) {
		t.Errorf("%d places, want %d", len(all), len(msgs))
	}
	if tot, _ := repo.Totals(context.Background()); tot.Places != int64(len(msgs)) {
		t.Errorf("Totals = %+v, want %d places", tot, len(msgs))
	}
	if v, err := repo.Verify(context.Background(), "", nil); err != nil || !v.OK() {
		t.Fatalf("Verify() = %+v %v", v, err)
	}
}

// TestPOP3Stall: a server that stops sending mid-message runs into the
// read timeout; the run reconnects and completes.
func TestPOP3Stall(t *testing.T) {
	t.Run("pop3srv", func(t *testing.T) {
		hooks, fired := retrFault(4, pop3srv.Fault{Stall: true, AfterBytes: 500})
		tg := newPOP3Srv(t, &pop3srv.Options{Hooks: hooks})
		stallScenario(t, tg, func() bool { return fired.Load() > 0 })
	})
	t.Run("dovecot", func(t *testing.T) {
		tg := newDovecotPOP3(t, dovecot.Shared(t))
		p, err := faultproxy.New(tg.serverAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		tg.addr = p.Addr()
		p.Set(faultproxy.Fault{Action: faultproxy.Stall, After: 4000, Count: 1})
		stallScenario(t, tg, func() bool { return p.Stats().Fired == 1 })
	})
}

func stallScenario(t *testing.T, tg *pop3Target, fired func() bool) {
	tg.add(t, ordinary(12, 13)...)
	repo := openRepo(t, t.TempDir())
	start := time.Now()
	col := &collector{}
	res := POP3(context.Background(), repo, &POP3Account{Name: "isp", Dial: tg.dial(300 * time.Millisecond), Backoff: 10 * time.Millisecond}, col)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	if !fired() {
		t.Fatal("the stall did not happen")
	}
	retries := col.kind(progress.Retry)
	if len(retries) == 0 || !errors.Is(retries[0].Err, os.ErrDeadlineExceeded) {
		t.Errorf("Retry events = %+v, want one after a timeout", retries)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
	checkPOP3Archive(t, repo, tg, "isp")
}

// TestPOP3QuitFails: DELE takes effect only at a confirmed QUIT. When
// QUIT fails, the run says nothing was deleted, the archive does not
// record deletions, and the next run deletes the messages (once).
func TestPOP3QuitFails(t *testing.T) {
	for _, f := range []pop3srv.Fault{{Err: "[SYS/TEMP] cannot commit"}, {Drop: true}} {
		t.Run(fmt.Sprintf("err=%q drop=%v", f.Err, f.Drop), func(t *testing.T) {
			var fail atomic.Bool
			fail.Store(true)
			tg := newPOP3Srv(t, &pop3srv.Options{Hooks: pop3srv.Hooks{Command: func(c pop3srv.Call) *pop3srv.Fault {
				if c.Verb == "QUIT" && fail.Load() {
					return &f
				}
				return nil
			}}})
			tg.add(t, ordinary(5, 17)...)
			repo := openRepo(t, t.TempDir())
			res, _ := pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
			if res.Fatal != nil || len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error(), "QUIT not confirmed, so none of the 5 messages marked for deletion was deleted") {
				t.Fatalf("Fatal %v, Errors %v", res.Fatal, res.Errors)
			}
			if res.Deleted != 0 || len(tg.srv.Maildrop(testUser)) != 5 {
				t.Fatalf("Deleted %d, server holds %d", res.Deleted, len(tg.srv.Maildrop(testUser)))
			}
			for k, e := range archived(t, repo, "isp", true) {
				if !e.GoneSince.IsZero() {
					t.Errorf("%s recorded as gone (%s) though QUIT failed", k, e.GoneReason)
				}
			}
			fail.Store(false)
			res, _ = pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
			if !res.OK() || res.Deleted != 5 || res.New+res.Seen != 0 {
				t.Fatalf("next run: deleted %d, stored %d, %v", res.Deleted, res.New+res.Seen, res.Err())
			}
			dele := 0
			for _, c := range tg.srv.Commands() {
				if strings.HasPrefix(c, "DELE ") {
					dele++
				}
			}
			if dele != 10 {
				t.Errorf("%d DELE commands over two runs, want 10 (5 undone by the failed QUIT, 5 committed)", dele)
			}
		})
	}
}

// TestPOP3DuplicateUIDL: a server that gives one UIDL to several
// messages: every message is archived (identified by UIDL and content),
// nothing twice, and deletion still only removes archived ones.
func TestPOP3DuplicateUIDL(t *testing.T) {
	a, b := []byte("Subject: a\r\n\r\nfirst\r\n"), []byte("Subject: b\r\n\r\nsecond\r\n")
	check := func(t *testing.T, repo *archive.Repo, res *Result, col *collector, distinct int) {
		t.Helper()
		if !res.OK() {
			t.Fatal(res.Err())
		}
		if !strings.Contains(col.texts(progress.Warning), "more than one message") {
			t.Errorf("no warning about shared UIDLs:\n%s", col.texts(progress.Warning))
		}
		if tot, _ := repo.Totals(context.Background()); tot.Blobs != int64(distinct) {
			t.Errorf("%d blobs, want %d", tot.Blobs, distinct)
		}
	}
	t.Run("pop3srv", func(t *testing.T) {
		tg := newPOP3Srv(t, nil)
		tg.srv.AddMessage(testUser, "same", a)
		tg.srv.AddMessage(testUser, "same", b)
		tg.srv.AddMessage(testUser, "same", a)
		tg.srv.AddMessage(testUser, "other", b)
		repo := openRepo(t, t.TempDir())
		res, col := pop3Run(t, repo, tg, nil)
		check(t, repo, res, col, 2)
		places := archived(t, repo, "isp", false)
		want := []string{"other", "same sha256:" + archive.HashBytes(a).String(), "same sha256:" + archive.HashBytes(b).String()}
		if len(places) != len(want) {
			t.Errorf("places %v, want %v", keys(places), want)
		}
		for _, k := range want {
			if places[k] == nil {
				t.Errorf("no place %q in %v", k, keys(places))
			}
		}
		res, col = pop3Run(t, repo, tg, nil)
		check(t, repo, res, col, 2)
		if res.New != 0 || res.Gone != 0 || len(archived(t, repo, "isp", false)) != 3 {
			t.Errorf("re-run: new %d gone %d", res.New, res.Gone)
		}
		res, col = pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
		check(t, repo, res, col, 2)
		if res.Deleted != 4 || len(tg.srv.Maildrop(testUser)) != 0 {
			t.Errorf("deleted %d, left %d", res.Deleted, len(tg.srv.Maildrop(testUser)))
		}
	})
	t.Run("dovecot", func(t *testing.T) {
		// %v (the mailbox's UIDVALIDITY) is the same for every message, so
		// every message gets the same UIDL (Dovecot refuses a format
		// without any variable).
		dc := dovecot.Start(t, &dovecot.Options{POP3UIDLFormat: "%v"})
		tg := newDovecotPOP3(t, dc)
		tg.add(t, a, b, a)
		repo := openRepo(t, t.TempDir())
		res, col := pop3Run(t, repo, tg, nil)
		check(t, repo, res, col, 2)
		if n := len(archived(t, repo, "isp", false)); n != 2 {
			t.Errorf("%d places, want 2 (UIDL + content)", n)
		}
		res, col = pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
		check(t, repo, res, col, 2)
		if res.Deleted != 3 {
			t.Errorf("deleted %d, want 3", res.Deleted)
		}
		if left := tg.serverUIDLs(t); len(left) != 0 {
			t.Errorf("server still has %v", left)
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPOP3UIDLChanges: the server gives the same messages new UIDLs;
// they are retrieved again but stored once, and the old UIDLs are gone.
func TestPOP3UIDLChanges(t *testing.T) {
	scenario := func(t *testing.T, tg *pop3Target, change func()) {
		tg.add(t, ordinary(8, 23)...)
		repo := openRepo(t, t.TempDir())
		if res, _ := pop3Run(t, repo, tg, nil); !res.OK() {
			t.Fatal(res.Err())
		}
		before, _ := repo.Totals(context.Background())
		change()
		res, _ := pop3Run(t, repo, tg, nil)
		if !res.OK() || res.New != 0 || res.Seen != 8 || res.Gone != 8 {
			t.Fatalf("after the UIDL change: new %d seen %d gone %d %v; want 0, 8, 8", res.New, res.Seen, res.Gone, res.Err())
		}
		after, _ := repo.Totals(context.Background())
		if after.Blobs != before.Blobs || after.PackBytes != before.PackBytes {
			t.Errorf("blobs %d -> %d, pack bytes %d -> %d: stored again", before.Blobs, after.Blobs, before.PackBytes, after.PackBytes)
		}
		checkPOP3Archive(t, repo, tg, "isp")
	}
	t.Run("pop3srv", func(t *testing.T) {
		var gen atomic.Int32
		tg := newPOP3Srv(t, &pop3srv.Options{Hooks: pop3srv.Hooks{UID: func(user string, login, num int, uid string) string {
			return fmt.Sprintf("%s-g%d", uid, gen.Load())
		}}})
		tg.uidOf = func(uid string) string { return fmt.Sprintf("%s-g%d", uid, gen.Load()) }
		scenario(t, tg, func() { gen.Add(1) })
	})
	t.Run("dovecot", func(t *testing.T) {
		tg := newDovecotPOP3(t, dovecot.Shared(t))
		scenario(t, tg, func() {
			// The default UIDL holds UIDVALIDITY: a new one renames all.
			if out, err := tg.dc.Doveadm("mailbox", "update", "-u", tg.user, "--uid-validity", "12345", "INBOX"); err != nil {
				t.Fatalf("%v %s", err, out)
			}
		})
	})
}

// TestPOP3SizeMismatch: LIST says one size, RETR sends another: the bytes
// sent are stored, with a warning naming the message.
func TestPOP3SizeMismatch(t *testing.T) {
	tg := newPOP3Srv(t, &pop3srv.Options{Hooks: pop3srv.Hooks{Size: func(user string, num int, size int64) int64 {
		if num == 2 {
			return size + 100
		}
		return size
	}}})
	tg.add(t, ordinary(3, 29)...)
	repo := openRepo(t, t.TempDir())
	res, col := pop3Run(t, repo, tg, nil)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	w := col.kind(progress.Warning)
	if len(w) != 1 || w[0].UIDL != "uid-2" || !strings.Contains(w[0].Text, "msg 2: LIST said") {
		t.Errorf("warnings = %+v", w)
	}
	checkPOP3Archive(t, repo, tg, "isp")
	// Due for deletion with a size that does not match the archived copy:
	// retrieved again and compared before it is deleted.
	res, _ = pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
	if !res.OK() || res.Deleted != 3 || res.Seen != 1 {
		t.Fatalf("delete run: deleted %d seen %d %v", res.Deleted, res.Seen, res.Err())
	}
}

// TestPOP3NoUIDL: without UIDL, messages are identified by content;
// re-runs store nothing twice, and deletion works.
func TestPOP3NoUIDL(t *testing.T) {
	tg := newPOP3Srv(t, &pop3srv.Options{DisableUIDL: true})
	msgs := ordinary(6, 37)
	tg.add(t, msgs...)
	repo := openRepo(t, t.TempDir())
	res, col := pop3Run(t, repo, tg, nil)
	if !res.OK() || res.New+res.Seen != int64(len(msgs)) {
		t.Fatalf("stored %d %v", res.New+res.Seen, res.Err())
	}
	if !strings.Contains(col.texts(progress.Warning), "server has no UIDL") {
		t.Errorf("no warning about the missing UIDL")
	}
	places := archived(t, repo, "isp", false)
	for _, m := range msgs {
		if places["sha256:"+archive.HashBytes(m).String()] == nil {
			t.Errorf("message %x not archived by content; places %v", archive.HashBytes(m).String()[:8], keys(places))
		}
	}
	res, _ = pop3Run(t, repo, tg, nil)
	if !res.OK() || res.New != 0 || res.Gone != 0 {
		t.Fatalf("re-run: new %d gone %d %v", res.New, res.Gone, res.Err())
	}
	// Another client deletes message 1.
	c := tg.session(t)
	if err := c.Dele(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, _ = pop3Run(t, repo, tg, nil)
	if !res.OK() || res.Gone != 1 {
		t.Fatalf("after an outside deletion: gone %d %v", res.Gone, res.Err())
	}
	res, _ = pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
	if !res.OK() || res.Deleted != int64(len(msgs)-1) || len(tg.srv.Maildrop(testUser)) != 0 {
		t.Fatalf("delete: deleted %d, left %d %v", res.Deleted, len(tg.srv.Maildrop(testUser)), res.Err())
	}
}

// TestPOP3UIDLReused: a server that hands a UIDL mailkeep saw leave to a
// new message must not make mailkeep skip it, or delete it unarchived.
func TestPOP3UIDLReused(t *testing.T) {
	tg := newPOP3Srv(t, nil)
	old, fresh := []byte("Subject: old\r\n\r\nold\r\n"), []byte("Subject: new\r\n\r\nnew\r\n")
	tg.srv.AddMessage(testUser, "1", old)
	repo := openRepo(t, t.TempDir())
	if res, _ := pop3Run(t, repo, tg, nil); !res.OK() {
		t.Fatal(res.Err())
	}
	tg.removeOutside(t, "1")
	if res, _ := pop3Run(t, repo, tg, nil); !res.OK() || res.Gone != 1 {
		t.Fatalf("gone %d %v", res.Gone, res.Err())
	}
	tg.srv.AddMessage(testUser, "1", fresh)
	res, col := pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
	if !res.OK() || res.New != 1 || res.Deleted != 1 {
		t.Fatalf("new %d deleted %d %v", res.New, res.Deleted, res.Err())
	}
	if !strings.Contains(col.texts(progress.Warning), "other bytes under this UIDL") {
		t.Errorf("no warning: %s", col.texts(progress.Warning))
	}
	e := archived(t, repo, "isp", true)["1 sha256:"+archive.HashBytes(fresh).String()]
	if e == nil || e.GoneReason != archive.GonePOP3Deleted {
		t.Fatalf("new message under a reused UIDL: %+v", e)
	}
}

// TestPOP3VerifyBeforeDelete: a damaged archived copy keeps the message
// on the server.
func TestPOP3VerifyBeforeDelete(t *testing.T) {
	tg := newPOP3Srv(t, nil)
	tg.add(t, ordinary(3, 41)...)
	dir := t.TempDir()
	repo := openRepo(t, dir)
	if res, _ := pop3Run(t, repo, tg, nil); !res.OK() {
		t.Fatal(res.Err())
	}
	victim := archived(t, repo, "isp", false)["uid-2"]
	loc, err := repo.Locate(context.Background(), victim.Hash)
	pack, off, length := loc.Pack, loc.Offset, loc.Length
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(repo.PackPath(pack), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, off+length/2)
	b[0] ^= 0xff
	f.WriteAt(b, off+length/2)
	f.Close()
	later := time.Now().AddDate(0, 2, 0)
	res, _ := pop3Run(t, repo, tg, func(a *POP3Account) {
		a.DeleteBefore = func(now time.Time) time.Time { return now.AddDate(0, -1, 0) }
		a.Now = func() time.Time { return later }
	})
	if res.Deleted != 2 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error(), "msg 2 uidl uid-2: not deleted") {
		t.Fatalf("deleted %d, errors %v; want 2 deleted and uid-2 kept", res.Deleted, res.Errors)
	}
	if left := tg.srv.Maildrop(testUser); len(left) != 1 || left[0].UID != "uid-2" {
		t.Fatalf("server holds %v, want uid-2 only", left)
	}
}
