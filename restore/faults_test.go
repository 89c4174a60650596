package restore

import (
	"bytes"
	"context"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/faultproxy"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// backedUp returns an archive holding a backup of a sample source.
func backedUp(t *testing.T, n int) (*imapsrv.Server, account, *archive.Repo) {
	t.Helper()
	src, sa := inproc(t, "old", nil)
	seedSample(src, "u", n)
	repo := newRepo(t)
	if r := sa.backupFn(repo, nil)(context.Background()); !r.OK() {
		t.Fatalf("backup: %v", r.Err())
	}
	return src, sa, repo
}

// via returns the target account reached through a proxy.
func via(a account, addr string) account {
	a.addr = addr
	return a
}

func TestThrottlingBacksOffAndResumes(t *testing.T) {
	_, sa, repo := backedUp(t, 30)
	_, ta := inproc(t, "new", nil)
	p := newProxy(t, ta.addr, proxyRules{onAppend: func(n int, line string) string {
		switch n {
		case 2, 3:
			return "NO [LIMIT] too many messages in a row"
		case 6:
			return "NO [UNAVAILABLE] try again later"
		case 9:
			return "BYE"
		}
		return ""
	}})
	ev := &events{}
	r := Restore(context.Background(), repo, via(ta, p.addr()).target(), &Options{Source: "old"}, ev)
	checkResult(t, r, int64(count(snapshot(t, sa))), 0)
	compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{})
	if got := strings.Count(ev.text(progress.Retry), "\n"); got < 4 {
		t.Errorf("%d retry events, want at least 4:\n%s", got, ev.text(progress.Retry))
	}
}

func TestTooBigSkippedAndNamed(t *testing.T) {
	src, sa, repo := backedUp(t, 30)
	_ = src
	// The target announces APPENDLIMIT: big messages are not even sent.
	// Through the proxy, it also answers NO [TOOBIG] for a mid-size one.
	_, ta := inproc(t, "new", &imapsrv.Options{AppendLimit: 20000})
	p := newProxy(t, ta.addr, proxyRules{onAppend: func(n int, line string) string {
		if sz, _, _ := literal(line); sz > 12000 {
			return "NO [TOOBIG] message too large for this folder"
		}
		return ""
	}})
	r := Restore(context.Background(), repo, via(ta, p.addr()).target(), &Options{Source: "old"}, nil)
	if r.OK() {
		t.Fatalf("restore OK with messages refused as too big")
	}
	var skipped []Skip
	for _, f := range r.Folders {
		skipped = append(skipped, f.Skipped...)
	}
	if len(skipped) == 0 {
		t.Fatalf("no message reported as skipped")
	}
	limit, toobig := 0, 0
	for _, s := range skipped {
		switch {
		case strings.Contains(s.Reason, "APPENDLIMIT") && s.Size > 20000:
			limit++
		case strings.Contains(s.Reason, "TOOBIG") || strings.Contains(s.Reason, "too large"):
			toobig++
		default:
			t.Errorf("skipped for an unexpected reason: %v", s)
		}
		if s.MessageID == "" || !strings.Contains(s.String(), s.MessageID) || !strings.Contains(s.String(), s.Folder) {
			t.Errorf("skip report does not name the message: %v", s)
		}
	}
	if limit == 0 || toobig == 0 {
		t.Errorf("skips: %d over APPENDLIMIT, %d answered TOOBIG; want some of each", limit, toobig)
	}
	in, on, _, _, _, sk, _ := r.Totals()
	if on+sk != in {
		t.Errorf("in source %d, on target %d, skipped %d: every message must be one or the other", in, on, sk)
	}
	// What was copied is exact; the rest is what was skipped.
	s, d := snapshot(t, sa), snapshot(t, ta)
	if count(d) != int(on) || count(s) != int(in) {
		t.Errorf("target holds %d (want %d), source %d (want %d)", count(d), on, count(s), in)
	}
	compareSubset(t, s, d)
}

// compareSubset checks every target message is a source message of the
// same folder, with its flags and date.
func compareSubset(t *testing.T, s, d map[string][]msgInfo) {
	t.Helper()
	for f, ms := range d {
		have := map[string]int{}
		for _, m := range s[f] {
			have[m.String()]++
		}
		for _, m := range ms {
			if have[m.String()] == 0 {
				t.Errorf("%s: target message %v is not in the source (or is there more often)", f, m)
			}
			have[m.String()]--
		}
	}
}

func TestTryCreateCreatesAndRetries(t *testing.T) {
	_, sa, repo := backedUp(t, 10)
	_, ta := inproc(t, "new", nil)
	p := newProxy(t, ta.addr, proxyRules{onAppend: func(n int, line string) string {
		if n == 1 {
			return "NO [TRYCREATE] Mailbox does not exist"
		}
		return ""
	}})
	ev := &events{}
	r := Restore(context.Background(), repo, via(ta, p.addr()).target(), &Options{Source: "old"}, ev)
	checkResult(t, r, int64(count(snapshot(t, sa))), 0)
	compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{})
	if !strings.Contains(ev.text(progress.Warning), "TRYCREATE") {
		t.Errorf("no warning about TRYCREATE:\n%s", ev.text(progress.Warning))
	}
}

func hasBareLF(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// TestRefusedBytes: a Cyrus-like target refuses bare LF. Without the
// opt-in the message is reported by folder and Message-ID and the rest go
// on; with --repair-line-endings it is copied with CRLF and listed.
func TestRefusedBytesAndRepair(t *testing.T) {
	refuse := proxyRules{onBody: func(b []byte) string {
		if hasBareLF(b) {
			return "NO Message contains bare newlines"
		}
		return ""
	}}
	t.Run("reported", func(t *testing.T) {
		_, sa, repo := backedUp(t, 10)
		_, ta := inproc(t, "new", nil)
		p := newProxy(t, ta.addr, refuse)
		r := Restore(context.Background(), repo, via(ta, p.addr()).target(), &Options{Source: "old"}, nil)
		if r.OK() {
			t.Fatal("restore OK although the target refused messages")
		}
		var sk []Skip
		for _, f := range r.Folders {
			sk = append(sk, f.Skipped...)
		}
		if len(sk) != 2 {
			t.Fatalf("skipped = %v, want the 2 messages of Lists/dovecot with bare LF", sk)
		}
		for _, s := range sk {
			if !strings.Contains(s.Reason, "bare newlines") || s.Folder != "Lists/dovecot" || !strings.Contains(s.String(), "Lists/dovecot uid") {
				t.Errorf("skip %v: want Lists/dovecot, the server's reason and the message named", s)
			}
		}
		compareSubset(t, snapshot(t, sa), snapshot(t, ta))
	})
	t.Run("repaired", func(t *testing.T) {
		_, sa, repo := backedUp(t, 10)
		_, ta := inproc(t, "new", nil)
		p := newProxy(t, ta.addr, refuse)
		r := Restore(context.Background(), repo, via(ta, p.addr()).target(), &Options{Source: "old", RepairLineEndings: true}, nil)
		checkResult(t, r, -1, 0)
		var rep []Skip
		for _, f := range r.Folders {
			rep = append(rep, f.Repaired...)
		}
		if len(rep) != 2 { // bare-lf and mixed-line-ends
			t.Fatalf("repaired = %v, want the 2 messages with bare LF", rep)
		}
		for _, x := range rep {
			if !strings.Contains(x.Reason, "bare LF turned into CRLF") {
				t.Errorf("repair note %q", x.Reason)
			}
		}
		// Every other message is byte-exact; the repaired ones differ only there.
		s, d := snapshot(t, sa), snapshot(t, ta)
		if count(s) != count(d) {
			t.Fatalf("target has %d messages, source %d", count(d), count(s))
		}
		compare(t, without(s, "Lists/dovecot"), without(d, "Lists/dovecot"), compareOpts{})
		// A re-run must not copy the repaired ones again.
		r = Restore(context.Background(), repo, via(ta, p.addr()).target(), &Options{Source: "old", RepairLineEndings: true}, nil)
		checkResult(t, r, 0, 0)
	})
}

func without(s map[string][]msgInfo, folder string) map[string][]msgInfo {
	out := map[string][]msgInfo{}
	for k, v := range s {
		if k != folder {
			out[k] = v
		}
	}
	return out
}

func TestReservedFolderNameFallsBack(t *testing.T) {
	_, sa, repo := backedUp(t, 10)
	_, ta := inproc(t, "new", nil)
	p := newProxy(t, ta.addr, proxyRules{onCreate: func(name string) string {
		if strings.HasPrefix(name, "Lists") {
			return "NO [CANNOT] Lists is a reserved name here"
		}
		return ""
	}})
	ev := &events{}
	r := Restore(context.Background(), repo, via(ta, p.addr()).target(), &Options{Source: "old"}, ev)
	checkResult(t, r, -1, 0)
	compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{folder: func(f string) string {
		if f == "Lists/dovecot" {
			return "Restored/Lists/dovecot"
		}
		return f
	}})
	if !strings.Contains(ev.text(progress.Warning), "refused this name") {
		t.Errorf("no warning about the refused name:\n%s", ev.text(progress.Warning))
	}
}

// TestLostAnswerNoDuplicate: the target stores a message but the
// connection dies before its answer arrives. The message must not be
// appended a second time; one whose body never arrived must be.
func TestLostAnswerNoDuplicate(t *testing.T) {
	for _, uidplus := range []bool{true, false} {
		name := "uidplus"
		if !uidplus {
			name = "no-uidplus"
		}
		t.Run(name, func(t *testing.T) {
			_, sa, repo := backedUp(t, 20)
			_, ta := inproc(t, "new", &imapsrv.Options{DisableUIDPlus: !uidplus})
			p := newProxy(t, ta.addr, proxyRules{loseAnswer: func(n int) bool { return n == 3 || n == 11 }})
			// And a drop in the middle of a body, on the way to the server.
			fp, err := faultproxy.New(p.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer fp.Close()
			fp.Set(faultproxy.Fault{Action: faultproxy.Drop, Direction: faultproxy.ClientToServer, After: 30000, Count: 1})
			ev := &events{}
			tgt := via(ta, fp.Addr()).target()
			tgt.Connections = 2
			r := Restore(context.Background(), repo, tgt, &Options{Source: "old"}, ev)
			checkResult(t, r, int64(count(snapshot(t, sa))), 0)
			compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{})
			if !strings.Contains(ev.text(progress.Retry), "checking whether the target kept it") {
				t.Errorf("no lost answer seen:\n%s", ev.text(progress.Retry))
			}
		})
	}
}

var literalRE = regexp.MustCompile(`\{\d+(\+?)\}$`)

// TestSynchronizingLiteralsOnly: even when the server announces LITERAL+,
// every APPEND waits for the server's "+" before sending the body, so a
// server that rejects the command line never reads the body as commands.
func TestSynchronizingLiteralsOnly(t *testing.T) {
	// The archive may hold flags a target must not get (from a server with
	// looser rules): they are left off and reported.
	repo := newRepo(t)
	ctx := context.Background()
	acct, _ := repo.Account(ctx, "old", "imap")
	f, _ := repo.Folder(ctx, acct, "INBOX")
	evil := []byte("Subject: commands\r\nMessage-ID: <evil@x>\r\n\r\nx1 DELETE INBOX\r\nx2 CREATE Owned\r\n")
	for i, m := range []struct {
		raw   []byte
		flags []string
	}{{evil, []string{`\Seen`, "bad(kw", `\Unknown`, "$Fine"}}, {bytes.Repeat([]byte("y"), 10000), nil}} {
		h, _, err := repo.PutMessage(ctx, m.raw)
		if err != nil {
			t.Fatal(err)
		}
		repo.AddMessage(ctx, &archive.Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: h, Size: int64(len(m.raw)),
			Flags: m.flags, InternalDate: time.Date(2023, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))})
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	dst, ta := inproc(t, "new", nil)
	p := newProxy(t, ta.addr, proxyRules{addCaps: "LITERAL+"})
	r := Restore(ctx, repo, via(ta, p.addr()).target(), &Options{Source: "old"}, nil)
	checkResult(t, r, 2, 0)
	n := 0
	for _, l := range p.commandLines() {
		if !strings.Contains(strings.ToUpper(l), " APPEND ") {
			continue
		}
		n++
		m := literalRE.FindStringSubmatch(l)
		if m == nil || m[1] != "" {
			t.Errorf("APPEND line %q does not end in a synchronizing literal", l)
		}
	}
	if n != 2 {
		t.Errorf("%d APPEND lines seen, want 2", n)
	}
	for _, mb := range dst.Mailboxes("u") {
		if mb.Name == "Owned" {
			t.Errorf("mailbox Owned exists on the target")
		}
	}
	got := dst.Messages("u", "INBOX")
	if len(got) != 2 {
		t.Fatalf("target INBOX has %d messages, want 2", len(got))
	}
	if !bytes.Equal(got[0].Raw, evil) {
		got[0] = got[1] // two connections: either may have come first
	}
	if !bytes.Equal(got[0].Raw, evil) {
		t.Fatalf("the message with command lines did not arrive byte for byte")
	}
	if fl := strings.Join(got[0].Flags, " "); fl != `$Fine \Seen` && fl != `\Seen $Fine` {
		t.Errorf("flags on the target: %q, want \\Seen $Fine", fl)
	}
	if d := r.Folders[0].DroppedFlags; d["bad(kw"] != 1 || d[`\Unknown`] != 1 {
		t.Errorf("dropped flags %v, want bad(kw and \\Unknown reported", d)
	}
}

// TestInterruptedRestoreResumes cancels restores at random points; every
// re-run completes the copy without a duplicate.
func TestInterruptedRestoreResumes(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	seedSample(src, "u", 80)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 0; round < 3; round++ {
		_, ta := inproc(t, "new", nil)
		repo := newRepo(t)
		total := count(snapshot(t, sa))
		for attempt := 0; attempt < 4; attempt++ {
			stopAt := int64(1 + rng.IntN(total))
			ctx, cancel := context.WithCancel(context.Background())
			var items atomic.Int64
			ev := &events{on: func(e progress.Event) {
				if e.Kind == progress.Item && e.Account == "new" && items.Add(1) == stopAt {
					cancel()
				}
			}}
			t0 := time.Now()
			Migrate(ctx, repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, ev), ev)
			cancel()
			if d := time.Since(t0); d > time.Second {
				t.Logf("interrupted run (stop at %d of %d) took %s:\n%s", stopAt, total, d, ev.text(progress.Retry))
			}
			if n := count(snapshot(t, ta)); n > total {
				t.Fatalf("after an interrupted run the target holds %d messages, the source %d", n, total)
			}
		}
		r := Migrate(context.Background(), repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
		checkResult(t, r, -1, -1)
		compare(t, snapshot(t, sa), snapshot(t, ta), compareOpts{})
	}
}

// TestWrongPasswords: a refused login on either side fails the run at once
// and says which side.
func TestWrongPasswords(t *testing.T) {
	_, sa, repo := backedUp(t, 5)
	_, ta := inproc(t, "new", nil)
	bad := ta
	bad.pass = "wrong"
	r := Migrate(context.Background(), repo, bad.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
	if r.Fatal == nil || !strings.Contains(r.Fatal.Error(), "new") || !strings.Contains(r.Fatal.Error(), "authentication failed") {
		t.Errorf("wrong target password: fatal = %v", r.Fatal)
	}
	if r.Backup != nil {
		t.Errorf("the source was read although the target refused the login")
	}
	badSrc := sa
	badSrc.pass = "wrong"
	r = Migrate(context.Background(), repo, ta.target(), &Options{Source: "old"}, badSrc.backupFn(repo, nil), nil)
	if r.OK() || r.Backup == nil || r.Backup.Fatal == nil || !strings.Contains(r.Err().Error(), "authentication failed") {
		t.Errorf("wrong source password: err = %v", r.Err())
	}
	var _ = imap.CapUIDPlus
}
