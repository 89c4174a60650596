package backup

// One conformance suite, many servers (STYLE.md 7): each scenario is
// written once, drives the server only over IMAP (APPEND, STORE, UID
// EXPUNGE, RENAME), and takes as ground truth what the server itself
// serves afterwards (a fresh UID FETCH of BODY.PEEK[], FLAGS,
// INTERNALDATE). It runs against the in-process server and a private
// Dovecot.

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/sample"
)

type imapTarget struct {
	name, addr, user, pass string
}

func (tg imapTarget) dial(ctx context.Context) (*imapconn.Conn, error) {
	return imapconn.Dial(ctx, &imapconn.Options{Addr: tg.addr, Security: "none", Username: tg.user, Timeout: 10 * time.Second,
		Secret: func(context.Context) (string, error) { return tg.pass, nil }})
}

func (tg imapTarget) client(t testing.TB) *imapconn.Conn {
	t.Helper()
	c, err := tg.dial(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", tg.name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// targets returns the servers every scenario runs against: a fresh user
// on each.
func targets(t *testing.T) []imapTarget {
	mem := newServer(t, nil)
	out := []imapTarget{{name: "imapsrv", addr: mem.Addr(), user: testUser, pass: testPass}}
	return out
}

func dovecotTarget(t *testing.T) imapTarget {
	d := dovecot.Shared(t)
	user, pass := d.NewUser(t)
	return imapTarget{name: "dovecot", addr: d.IMAPAddr, user: user, pass: pass}
}

// forEachServer runs scenario against the in-process server and Dovecot.
func forEachServer(t *testing.T, scenario func(t *testing.T, tg imapTarget)) {
	t.Run("imapsrv", func(t *testing.T) { scenario(t, targets(t)[0]) })
	t.Run("dovecot", func(t *testing.T) { scenario(t, dovecotTarget(t)) })
}

func appendMsg(t testing.TB, c *imapconn.Conn, folder string, raw []byte, flags []string, date time.Time) {
	t.Helper()
	var fl []imap.Flag
	for _, f := range flags {
		fl = append(fl, imap.Flag(f))
	}
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: fl, Time: date})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND to %s: %v", folder, err)
	}
}

// seedIMAP creates the sample folders and appends the awkward messages
// (those the server accepts) and n ordinary ones.
func seedIMAP(t testing.TB, c *imapconn.Conn, n int) {
	t.Helper()
	for _, f := range sample.Folders {
		if f.Name != "INBOX" {
			c.Create(f.Name, nil).Wait() // may exist already (Dovecot's special folders)
		}
	}
	for i, m := range sample.Awkward() {
		if len(m.Raw) == 0 {
			continue // Dovecot refuses empty APPENDs; covered by the in-process tests
		}
		appendMsg(t, c, "INBOX", m.Raw, []string{`\Seen`, "$Label1"}[:i%3], time.Date(2021, 5, 1+i, 8, 30, 0, 0, time.FixedZone("", -4*3600)))
	}
	for _, m := range sample.Generate(n, 3) {
		appendMsg(t, c, m.Folder, m.Raw, m.Flags, m.Date)
	}
}

type served struct {
	uid   uint32
	sum   [32]byte
	size  int
	flags string
	date  time.Time
}

// fetchServed reads a folder as the server serves it now.
func fetchServed(t testing.TB, c *imapconn.Conn, folder string) (uint32, []served) {
	t.Helper()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("EXAMINE %s: %v", folder, err)
	}
	if sel.NumMessages == 0 {
		return sel.UIDValidity, nil
	}
	fc := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	var out []served
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
		out = append(out, served{uid: uint32(buf.UID), sum: sha256.Sum256(raw), size: len(raw),
			flags: archive.JoinFlags(imapconn.FlagStrings(buf.Flags)), date: buf.InternalDate})
	}
	if err := fc.Close(); err != nil {
		t.Fatal(err)
	}
	return sel.UIDValidity, out
}

func listFolders(t testing.TB, c *imapconn.Conn) []string {
	t.Helper()
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range boxes {
		skip := false
		for _, a := range b.Attrs {
			skip = skip || a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent
		}
		if !skip {
			out = append(out, b.Mailbox)
		}
	}
	return out
}

// compareServed checks the archive against what the server serves:
// every message by SHA-256, flags and INTERNALDATE, and no extra present
// message in the archive.
func compareServed(t testing.TB, repo *archive.Repo, tg imapTarget, account string) int {
	t.Helper()
	ctx := context.Background()
	c := tg.client(t)
	n := 0
	for _, folder := range listFolders(t, c) {
		uv, msgs := fetchServed(t, c, folder)
		stored := map[uint32]*archive.Entry{}
		for e, err := range repo.Messages(ctx, archive.Query{Account: account, Folder: folder}) {
			if err != nil {
				t.Fatal(err)
			}
			stored[e.UID] = e
		}
		if len(stored) != len(msgs) {
			t.Errorf("%s %s: archive has %d present messages, server %d", tg.name, folder, len(stored), len(msgs))
		}
		for _, m := range msgs {
			n++
			e := stored[m.uid]
			if e == nil {
				t.Errorf("%s %s uid %d: not archived", tg.name, folder, m.uid)
				continue
			}
			raw, err := repo.ReadMessage(ctx, e.Hash)
			if err != nil || sha256.Sum256(raw) != m.sum || e.UIDValidity != uv {
				t.Errorf("%s %s uid %d: archived copy differs from BODY.PEEK[] (%d vs %d bytes, err %v)", tg.name, folder, m.uid, len(raw), m.size, err)
			}
			if e.Hash != archive.Hash(m.sum) {
				t.Errorf("%s %s uid %d: index hash differs from the served bytes' SHA-256", tg.name, folder, m.uid)
			}
			if got := archive.JoinFlags(e.Flags); got != m.flags {
				t.Errorf("%s %s uid %d: flags %q, server %q", tg.name, folder, m.uid, got, m.flags)
			}
			if !e.InternalDate.Equal(m.date) || e.InternalDate.Format(archive.DateLayout) != m.date.Format(archive.DateLayout) {
				t.Errorf("%s %s uid %d: INTERNALDATE %s, server %s", tg.name, folder, m.uid, e.InternalDate.Format(archive.DateLayout), m.date.Format(archive.DateLayout))
			}
		}
	}
	return n
}

func runAccount(t testing.TB, repo *archive.Repo, tg imapTarget) *Result {
	t.Helper()
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: tg.dial, Backoff: 10 * time.Millisecond}, nil)
	if !res.OK() {
		t.Fatalf("%s: backup failed: %v", tg.name, res.Err())
	}
	return res
}

func TestConformanceBackup(t *testing.T) {
	forEachServer(t, func(t *testing.T, tg imapTarget) {
		ctx := context.Background()
		c := tg.client(t)
		seedIMAP(t, c, 80)
		repo := openRepo(t, t.TempDir())

		// 1. Full backup, byte for byte.
		runAccount(t, repo, tg)
		if n := compareServed(t, repo, tg, "acct"); n < 90 {
			t.Fatalf("compared %d messages", n)
		}
		// No \Seen was set by the backup: compare the flags again after
		// a fresh read (compareServed used PEEK too).
		// 2. Re-run with nothing new.
		res := runAccount(t, repo, tg)
		if res.New+res.Seen+res.Flags+res.Gone != 0 {
			t.Fatalf("no-op re-run fetched %d, flags %d, gone %d", res.New+res.Seen, res.Flags, res.Gone)
		}
		// 3. Changes: new mail, flags, an expunge.
		appendMsg(t, c, "INBOX", []byte("Subject: later\r\n\r\nnew mail\r\n"), nil, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, "$Todo"}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.UIDExpunge(imap.UIDSetNum(3)).Close(); err != nil {
			t.Fatal(err)
		}
		c.Unselect().Wait()
		res = runAccount(t, repo, tg)
		if res.New != 1 || res.Flags != 1 || res.Gone != 1 {
			t.Fatalf("after changes: new %d flags %d gone %d, want 1 1 1", res.New, res.Flags, res.Gone)
		}
		compareServed(t, repo, tg, "acct")
		// 4. A renamed folder: nothing stored twice, the old name gone.
		before, _ := repo.Totals(ctx)
		if err := c.Rename("Lists/dovecot", "Lists/renamed", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		runAccount(t, repo, tg)
		after, _ := repo.Totals(ctx)
		if after.Blobs != before.Blobs {
			t.Fatalf("rename stored %d blobs again", after.Blobs-before.Blobs)
		}
		compareServed(t, repo, tg, "acct")
		v, err := repo.Verify(ctx, "", nil)
		if err != nil || !v.OK() {
			t.Fatalf("Verify() = %+v, %v", v, err)
		}
	})
}

// TestConformancePeekKeepsUnseen checks that a backup never sets \Seen.
func TestConformancePeekKeepsUnseen(t *testing.T) {
	forEachServer(t, func(t *testing.T, tg imapTarget) {
		c := tg.client(t)
		appendMsg(t, c, "INBOX", []byte("Subject: unread\r\n\r\nbody\r\n"), nil, time.Date(2022, 2, 2, 2, 2, 2, 0, time.UTC))
		repo := openRepo(t, t.TempDir())
		runAccount(t, repo, tg)
		_, msgs := fetchServed(t, c, "INBOX")
		if len(msgs) != 1 || strings.Contains(msgs[0].flags, `\Seen`) {
			t.Fatalf("after backup the server has %+v; want one message without \\Seen", msgs)
		}
	})
}
