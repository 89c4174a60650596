package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/pop3srv"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// pop3Target is a POP3 server a scenario runs against: the in-process
// pop3srv or a private Dovecot. Ground truth comes from outside the code
// under test: pop3srv's own store, or Dovecot's IMAP.
type pop3Target struct {
	name       string
	addr       string // where the backup connects (may be a fault proxy)
	serverAddr string // the server itself
	user, pass string
	srv        *pop3srv.Server     // pop3srv only
	dc         *dovecot.Server     // Dovecot only
	seq        int                 // pop3srv UIDLs handed out
	mu         *sync.Mutex         // guards seq
	nul        [][]byte            // Dovecot: seeded messages with NUL, which IMAP cannot show exactly
	uidOf      func(string) string // pop3srv: the UIDL a stored UID is listed as (Hooks.UID)
}

func newPOP3Srv(t testing.TB, opts *pop3srv.Options) *pop3Target {
	t.Helper()
	srv, err := pop3srv.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser(testUser, testPass)
	return &pop3Target{name: "pop3srv", addr: srv.Addr(), serverAddr: srv.Addr(), user: testUser, pass: testPass, srv: srv, mu: &sync.Mutex{}}
}

func newDovecotPOP3(t testing.TB, dc *dovecot.Server) *pop3Target {
	t.Helper()
	user, pass := dc.NewUser(t)
	return &pop3Target{name: "dovecot", addr: dc.POP3Addr, serverAddr: dc.POP3Addr, user: user, pass: pass, dc: dc,
		mu: &sync.Mutex{}}
}

// forEachPOP3 runs a scenario against pop3srv and the shared Dovecot.
func forEachPOP3(t *testing.T, scenario func(t *testing.T, tg *pop3Target)) {
	t.Run("pop3srv", func(t *testing.T) { scenario(t, newPOP3Srv(t, nil)) })
	t.Run("dovecot", func(t *testing.T) {
		dc := dovecot.Shared(t)
		scenario(t, newDovecotPOP3(t, dc))
	})
}

func (tg *pop3Target) dial(timeout time.Duration) func(context.Context) (*pop3.Client, error) {
	addr, user, pass := tg.addr, tg.user, tg.pass
	return func(ctx context.Context) (*pop3.Client, error) {
		c, err := pop3.Dial(ctx, addr, &pop3.Options{Security: "none", Timeout: timeout})
		if err != nil {
			return nil, err
		}
		if err := c.Auth(ctx, user, pass, ""); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
}

// add delivers messages to the maildrop.
func (tg *pop3Target) add(t testing.TB, msgs ...[]byte) {
	t.Helper()
	if tg.srv != nil {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		for _, m := range msgs {
			tg.seq++
			tg.srv.AddMessage(tg.user, fmt.Sprintf("uid-%d", tg.seq), m)
		}
		return
	}
	var dm []dovecot.Message
	for _, m := range msgs {
		if len(m) > 0 && m[0] == '.' {
			// Dovecot (2.3) does not dot-stuff the first line of a
			// message, so a message starting with "." loses that dot in
			// any RFC 1939 client; such a message is no test of ours.
			continue
		}
		dm = append(dm, dovecot.Message{Raw: m})
		if bytes.IndexByte(m, 0) >= 0 {
			tg.nul = append(tg.nul, m)
		}
	}
	tg.dc.Seed(t, tg.user, "INBOX", dm)
}

// truth returns what the server holds now, by UIDL: SHA-256 of the bytes
// a byte-exact POP3 client must archive. For Dovecot this is the same
// message fetched over IMAP (BODY.PEEK[]), with the CRLF that POP3 adds
// before its terminator when a message does not end with a newline.
// Messages with NUL (which Dovecot's IMAP shows as 0x80) are compared
// with dovecot.ServedPOP3 of the seeded bytes instead.
func (tg *pop3Target) truth(t testing.TB) map[string][sha256.Size]byte {
	t.Helper()
	out := map[string][sha256.Size]byte{}
	if tg.srv != nil {
		for _, m := range tg.srv.Maildrop(tg.user) {
			uid := m.UID
			if tg.uidOf != nil {
				uid = tg.uidOf(uid)
			}
			out[uid] = sha256.Sum256(pop3srv.ClientBytes(m.Data))
		}
		return out
	}
	c, err := imapconn.Dial(context.Background(), &imapconn.Options{Addr: tg.dc.IMAPAddr, Security: "none", Username: tg.user,
		Timeout: 30 * time.Second, Secret: func(context.Context) (string, error) { return tg.pass, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return out
	}
	fc := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	for {
		msg := fc.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		for _, b := range buf.BodySection {
			raw = b.Bytes
		}
		for _, m := range tg.nul {
			if bytes.Equal(raw, dovecot.ServedIMAP(m)) {
				raw = dovecot.ServedPOP3(m)
			}
		}
		// RFC 1939 3: a multi-line response ends with CRLF "." CRLF, so
		// a message that does not end with a newline (or is empty)
		// arrives with a CRLF added; Dovecot sends "\r\n" for an empty one.
		if len(raw) == 0 || raw[len(raw)-1] != '\n' {
			raw = append(raw, '\r', '\n')
		}
		// Dovecot's default pop3_uidl_format %08Xu%08Xv (lower-case hex).
		uidl := fmt.Sprintf("%08x%08x", uint32(buf.UID), sel.UIDValidity)
		out[uidl] = sha256.Sum256(raw)
	}
	if err := fc.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pop3Session opens a session of the project's client, for driving the
// server from the side (deleting a message as another client would).
func (tg *pop3Target) session(t testing.TB) *pop3.Client {
	t.Helper()
	c, err := tg.dial(10 * time.Second)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// removeOutside deletes the messages with these UIDLs in a session of
// its own, as another mail client would.
func (tg *pop3Target) removeOutside(t testing.TB, uidls ...string) {
	t.Helper()
	ctx := context.Background()
	c := tg.session(t)
	uids, err := c.UIDL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, u := range uidls {
		want[u] = true
	}
	for _, u := range uids {
		if want[u.UID] {
			if err := c.Dele(ctx, u.Num); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
}

// serverUIDLs lists the maildrop's UIDLs over POP3.
func (tg *pop3Target) serverUIDLs(t testing.TB) []string {
	t.Helper()
	c := tg.session(t)
	uids, err := c.UIDL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.Quit(context.Background())
	var out []string
	for _, u := range uids {
		out = append(out, u.UID)
	}
	return out
}

// archived returns the account's INBOX places by key.
func archived(t testing.TB, repo *archive.Repo, account string, includeGone bool) map[string]*archive.Entry {
	t.Helper()
	out := map[string]*archive.Entry{}
	for e, err := range repo.Messages(context.Background(), archive.Query{Account: account, Folder: POP3Folder, IncludeGone: includeGone}) {
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[e.UIDL]; dup {
			t.Errorf("place %q recorded twice", e.UIDL)
		}
		out[e.UIDL] = e
	}
	return out
}

// checkPOP3Archive checks that every message the server holds is
// archived under its UIDL with exactly the bytes the server holds, read
// back from the archive and hashed, and that no present place in the
// archive lacks a message on the server. It returns the number checked.
func checkPOP3Archive(t testing.TB, repo *archive.Repo, tg *pop3Target, account string) int {
	t.Helper()
	truth := tg.truth(t)
	places := archived(t, repo, account, false)
	for uidl, sum := range truth {
		e := places[uidl]
		if e == nil {
			t.Errorf("%s: uidl %s on the server is not archived", tg.name, uidl)
			continue
		}
		raw, err := repo.ReadMessage(context.Background(), e.Hash)
		if err != nil {
			t.Errorf("%s: uidl %s: ReadMessage() = %v", tg.name, uidl, err)
			continue
		}
		want := sum
		if got := sha256.Sum256(raw); got != want || e.Hash != archive.Hash(want) {
			t.Errorf("%s: uidl %s: archived sha256 %x (%d bytes), server holds %x", tg.name, uidl, got[:6], len(raw), want[:6])
		}
		if e.Size != int64(len(raw)) {
			t.Errorf("%s: uidl %s: archived size %d, bytes %d", tg.name, uidl, e.Size, len(raw))
		}
	}
	for key, e := range places {
		if e.GoneReason != "" {
			continue // taken off the server by mailkeep: archived, not present
		}
		if _, ok := truth[key]; !ok {
			t.Errorf("%s: archive has place %q present that the server does not hold", tg.name, key)
		}
	}
	return len(truth)
}

// collector is a progress.Reporter for tests, safe for concurrent use.
type collector struct {
	mu  sync.Mutex
	evs []progress.Event
}

func (c *collector) Report(e progress.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, e)
	c.mu.Unlock()
}

func (c *collector) kind(k progress.Kind) []progress.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []progress.Event
	for _, e := range c.evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (c *collector) texts(k progress.Kind) string {
	var b strings.Builder
	for _, e := range c.kind(k) {
		fmt.Fprintf(&b, "%s|%s|%v\n", e.UIDL, e.Text, e.Err)
	}
	return b.String()
}

// pop3Run backs the target up once with the given policy tweaks.
func pop3Run(t testing.TB, repo *archive.Repo, tg *pop3Target, tweak func(*POP3Account)) (*Result, *collector) {
	t.Helper()
	col := &collector{}
	a := &POP3Account{Name: "isp", Dial: tg.dial(5 * time.Second), Backoff: 10 * time.Millisecond, Retries: 3}
	if tweak != nil {
		tweak(a)
	}
	return POP3(context.Background(), repo, a, col), col
}

// awkwardPOP3 is every message shape that breaks naive POP3 clients:
// dot lines, lines of 4096 bytes and longer (one followed by a line
// "."), bare LF (with a dot line), no final newline, NUL, 8-bit.
func awkwardPOP3() [][]byte {
	var out [][]byte
	for _, m := range sample.Awkward() {
		out = append(out, m.Raw)
	}
	l4096 := strings.Repeat("z", 4096)
	out = append(out,
		[]byte("Subject: 4096 bytes then a dot line\r\n\r\n"+l4096+"\r\n.\r\n"),
		[]byte("Subject: 4096 without CRLF before dot\r\n\r\n"+strings.Repeat("w", 4094)+"\r\n.\r\n"),
		[]byte("Subject: bare LF dots\n\n.\n..\n.x\nend\n"),
		[]byte("Subject: huge line\r\n\r\n"+strings.Repeat("0123456789", 20000)+"\r\n"),
		[]byte(".Subject: starts with a dot\r\n\r\nbody\r\n"),
		[]byte("Subject: terminator look-alike\r\n\r\nline\r\n.\r\n\r\n.\r\n"),
	)
	return out
}

func bytesN(n int, seed byte) []byte {
	b := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-\r\n"), n/66+1)[:n]
	if n > 2 {
		b[0] = seed
	}
	return b
}
