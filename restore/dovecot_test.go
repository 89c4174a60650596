package restore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// Integration tests against a real Dovecot, user to user. They skip when
// Dovecot cannot run here (and fail with MAILKEEP_REQUIRE_DOVECOT=1).
// Migrate, re-run, changes and restore between every pair of servers
// (Dovecot and Cyrus included) are internal/conformance's TestMigrate.

func dovecotAccount(srv *dovecot.Server, name, user, pass string) account {
	return account{name: name, addr: srv.IMAPAddr, user: user, pass: pass}
}

// seedDovecot fills a Dovecot user with sample mail in the sample folders,
// the awkward messages (empty, bare LF, NUL, 8-bit, ...) in Lists/dovecot,
// and the same message twice in INBOX.
func seedDovecot(t *testing.T, srv *dovecot.Server, user string, n int, seed uint64) {
	t.Helper()
	by := map[string][]dovecot.Message{}
	for _, m := range sample.Generate(n, seed) {
		by[m.Folder] = append(by[m.Folder], dovecot.Message{Raw: m.Raw, Flags: m.Flags, Date: m.Date})
	}
	for i, m := range sample.Awkward() {
		by["Lists/dovecot"] = append(by["Lists/dovecot"], dovecot.Message{Raw: m.Raw, Flags: []string{`\Seen`, "$Awkward"},
			Date: time.Date(2020, 1, 2, 3, 4, i, 0, time.FixedZone("", -5*3600))})
	}
	twin := dovecot.Message{Raw: []byte("Subject: twin\r\nMessage-ID: <twin@example>\r\n\r\ntwice in one folder\r\n"),
		Date: time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC)}
	by["INBOX"] = append(by["INBOX"], twin, twin)
	for _, f := range []string{"INBOX", "Sent", "Archive/2019", "Entwürfe", "Lists/dovecot"} {
		if len(by[f]) > 0 {
			srv.Seed(t, user, f, by[f])
		}
	}
}

// emptyRefused is how a target's refusal of the empty message shows: Dovecot
// will not store a message of 0 bytes.
func skippedEmpty(r *Result) int {
	n := 0
	for _, f := range r.Folders {
		for _, s := range f.Skipped {
			if s.Size == 0 {
				n++
			}
		}
	}
	return n
}

// checkDovecot is checkResult for Dovecot targets, which refuse the one
// empty message of the sample: that and only that may be skipped.
func checkDovecot(t *testing.T, r *Result, copied int64, adopted int64) {
	t.Helper()
	in, on, c, a, _, skipped, _ := r.Totals()
	empty := int64(skippedEmpty(r))
	if skipped != empty || in != on+empty {
		t.Fatalf("in source %d, on target %d, skipped %d (%d empty): %v", in, on, skipped, empty, r.Err())
	}
	if r.Fatal != nil || len(r.Errors) > 0 || (r.Backup != nil && !r.Backup.OK()) {
		t.Fatalf("run failed: %v", r.Err())
	}
	if copied >= 0 && c != copied {
		t.Errorf("copied %d, want %d", c, copied)
	}
	if adopted >= 0 && a != adopted {
		t.Errorf("adopted %d, want %d", a, adopted)
	}
}

// withoutEmpty drops the empty message from a snapshot.
func withoutEmpty(s map[string][]msgInfo) map[string][]msgInfo {
	const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	out := map[string][]msgInfo{}
	for f, ms := range s {
		out[f] = slices.DeleteFunc(slices.Clone(ms), func(m msgInfo) bool { return m.hash == emptyHash })
	}
	return out
}

// TestDovecotPartialTarget: the target already holds part of the mail
// (no ledger): those are adopted, fetching bodies only where needed.
func TestDovecotPartialTarget(t *testing.T) {
	srv := dovecot.Shared(t)
	su, sp := srv.NewUser(t)
	tu, tp := srv.NewUser(t)
	msgs := sample.Generate(80, 5)
	by := map[string][]dovecot.Message{}
	half := map[string][]dovecot.Message{}
	for i, m := range msgs {
		dm := dovecot.Message{Raw: m.Raw, Flags: m.Flags, Date: m.Date}
		by[m.Folder] = append(by[m.Folder], dm)
		if i%2 == 0 {
			half[m.Folder] = append(half[m.Folder], dm)
		}
	}
	// A message without Message-ID on both sides: only its body can match it.
	noID := dovecot.Message{Raw: []byte("Subject: no id\r\n\r\nbody only\r\n"), Date: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)}
	by["INBOX"] = append(by["INBOX"], noID)
	half["INBOX"] = append(half["INBOX"], noID)
	held := 0
	for f, ms := range by {
		srv.Seed(t, su, f, ms)
		if len(half[f]) > 0 {
			srv.Seed(t, tu, f, half[f])
			held += len(half[f])
		}
	}
	sa, ta := dovecotAccount(srv, "old", su, sp), dovecotAccount(srv, "new", tu, tp)
	repo := newRepo(t)
	r := Migrate(context.Background(), repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
	s := snapshot(t, sa)
	checkResult(t, r, int64(count(s)-held), int64(held))
	compare(t, s, snapshot(t, ta), compareOpts{zoneLost: true})
}

// TestDovecotCourierTarget migrates into a Courier-style account: every
// folder under "INBOX." with "." as delimiter, Sent found by its role.
func TestDovecotCourierTarget(t *testing.T) {
	srv := dovecot.Shared(t)
	su, sp := srv.NewUser(t)
	seedDovecot(t, srv, su, 30, 3)
	cs := dovecot.Start(t, &dovecot.Options{Namespace: dovecot.NamespaceCourier, Users: []string{"carol"}})
	sa, ta := dovecotAccount(srv, "old", su, sp), dovecotAccount(cs, "new", "carol", cs.Password)
	repo := newRepo(t)
	r := Migrate(context.Background(), repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
	s := snapshot(t, sa)
	checkDovecot(t, r, int64(count(s)-1), 0)
	d := snapshot(t, ta)
	mapped := func(f string) string {
		if f == "INBOX" {
			return f
		}
		return "INBOX." + strings.ReplaceAll(f, "/", ".")
	}
	compare(t, withoutEmpty(s), d, compareOpts{zoneLost: true, folder: mapped, extra: true})
	for _, f := range r.Folders {
		if slices.Contains(f.Sources, "Sent") && (f.Target != "INBOX.Sent" || f.How != "special-use") {
			t.Errorf("Sent mapped to %q (%s), want INBOX.Sent by special use", f.Target, f.How)
		}
	}
	r = Migrate(context.Background(), repo, ta.target(), &Options{Source: "old"}, sa.backupFn(repo, nil), nil)
	checkDovecot(t, r, 0, 0)
}

// TestDovecotCommandBodyNeverRuns: Dovecot answers BAD to an APPEND with
// the flag \Recent. Sent the way mailkeep sends it (synchronizing
// literal), the body with IMAP command lines never reaches the server's
// command parser: the account is unchanged.
func TestDovecotCommandBodyNeverRuns(t *testing.T) {
	srv := dovecot.Shared(t)
	user, pass := srv.NewUser(t)
	srv.Seed(t, user, "INBOX", []dovecot.Message{{Raw: []byte("Subject: keep me\r\n\r\nx\r\n")}})
	a := dovecotAccount(srv, "t", user, pass)
	body := []byte("Subject: evil\r\n\r\nx1 CREATE Owned\r\nx2 DELETE INBOX\r\nx3 RENAME Sent Stolen\r\n")
	before := listNames(t, a)

	c, err := imapconn.DialAppend(context.Background(), a.login())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has("LITERAL+") {
		t.Logf("note: this Dovecot does not announce LITERAL+")
	}
	msgs := []imapconn.AppendMessage{{Options: &imap.AppendOptions{Flags: []imap.Flag{`\Recent`}, Time: time.Now()}, Size: int64(len(body)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }}}
	res := c.Append("INBOX", msgs)
	if res.Answer == nil || res.Answer.Kind == "OK" || res.Refused != 0 {
		t.Fatalf("APPEND with \\Recent: answer %+v err %v, want a refusal before the body", res.Answer, res.Err)
	}
	if res.Sent != 0 {
		t.Errorf("the body was sent although the server refused the command line")
	}
	if res.Answer.Kind == "BAD" && !c.Broken() {
		t.Errorf("the connection is still open after BAD")
	}
	c.Close()
	// Two sessions have ended (listNames', this one): Dovecot has read
	// and done all it ever will with what was sent.
	srv.WaitLog(t, 2, "imap("+user+")", "Disconnected")
	after := listNames(t, a)
	if !slices.Equal(before, after) {
		t.Fatalf("folders changed: before %v, after %v", before, after)
	}
	if n := len(snapshot(t, a)["INBOX"]); n != 1 {
		t.Fatalf("INBOX has %d messages, want the 1 it had", n)
	}
}

// TestDovecotNonSyncLiteralDanger shows why: go-imap left to itself sends
// the same APPEND with a non-synchronizing literal, and Dovecot runs the
// body's lines as commands. (A control for the test above.)
func TestDovecotNonSyncLiteralDanger(t *testing.T) {
	srv := dovecot.Shared(t)
	user, pass := srv.NewUser(t)
	a := dovecotAccount(srv, "t", user, pass)
	c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapLiteralMinus) {
		t.Skip("this Dovecot announces no LITERAL+/LITERAL-: go-imap sends synchronizing literals anyway")
	}
	body := "Subject: evil\r\n\r\nx1 CREATE OwnedByBody\r\n"
	cmd := c.Append("INBOX", int64(len(body)), &imap.AppendOptions{Flags: []imap.Flag{`\Recent`}})
	cmd.Write([]byte(body))
	cmd.Close()
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	select { // go-imap may never answer on a connection the server's reply confused
	case <-waited:
	case <-time.After(10 * time.Second):
	}
	c.Close()
	srv.WaitLog(t, 1, "imap("+user+")", "Disconnected") // the session has run all it was sent
	if !slices.Contains(listNames(t, a), "OwnedByBody") {
		t.Fatalf("Dovecot did not run the body as commands; the premise of TestDovecotCommandBodyNeverRuns changed (LIBRARIES.md)")
	}
}

func errorsAs(err error, target **imap.Error) bool {
	for e := err; e != nil; {
		if ie, ok := e.(*imap.Error); ok {
			*target = ie
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func listNames(t *testing.T, a account) []string {
	t.Helper()
	c, err := a.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ls, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Mailbox)
	}
	slices.Sort(out)
	return out
}

var _ = fmt.Sprint
