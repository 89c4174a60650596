package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
)

// fixture is an archive with an IMAP account (two folders, one message
// cleaned off the server, one deleted on it) and a POP3 account whose mail
// was all taken off the server.
type fixture struct {
	dir  string
	repo *archive.Repo
	raws map[string][][]byte // served mailbox (all-accounts view) -> bytes in UID order
}

var odd = [][]byte{
	[]byte("From: a@example.org\r\nSubject: plain\r\nDate: Mon, 02 Mar 2020 10:00:00 +0000\r\n\r\nhello invoice\r\n"),
	[]byte("From: b@example.org\nSubject: bare lf\n\nline one\nline two\n"),
	[]byte("Subject: no final newline\r\n\r\nabc"),
	[]byte("From: c@example.org\r\nSubject: 8bit \xe4\xf6\xfc header\r\n\r\nbody\x00with nul\r\n"),
	[]byte("From somebody Mon Jan  1 00:00:00 2001\r\nSubject: mbox from line\r\n\r\n>From here\r\n"),
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	repo, err := archive.Open(ctx, dir, &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{dir: dir, repo: repo, raws: map[string][][]byte{}}
	alice, _ := repo.Account(ctx, "alice", "imap")
	inbox, _ := repo.Folder(ctx, alice, "INBOX")
	arch, _ := repo.Folder(ctx, alice, "Archive.2019")
	arch.Delimiter = "."
	inbox.Delimiter = "."
	repo.UpdateFolder(ctx, arch)
	repo.UpdateFolder(ctx, inbox)
	date := time.Date(2020, 3, 2, 10, 0, 0, 0, time.FixedZone("", 3600))
	add := func(f *archive.Folder, uid uint32, raw []byte, flags []string, uidl string) {
		h, _, err := repo.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		m := &archive.Message{Folder: f.ID, UIDValidity: 7, UID: uid, UIDL: uidl, Hash: h, Size: int64(len(raw)), Flags: flags, InternalDate: date}
		if uidl != "" {
			m.UIDValidity, m.UID, m.InternalDate = 0, 0, time.Time{}
		}
		if err := repo.AddMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, raw := range odd {
		add(inbox, uint32(i+1), raw, []string{`\Seen`}, "")
	}
	add(arch, 1, []byte("Subject: cleaned\r\n\r\nold report\r\n"), []string{`\Flagged`, "$Label1"}, "")
	add(arch, 2, []byte("Subject: deleted on the server\r\n\r\ngone\r\n"), nil, "")
	repo.MarkGone(ctx, arch.ID, 7, []uint32{1}, nil, archive.GoneCleanup, time.Now())
	repo.MarkGone(ctx, arch.ID, 7, []uint32{2}, nil, archive.GoneExpunged, time.Now())
	bob, _ := repo.Account(ctx, "bob", "pop3")
	pop, _ := repo.Folder(ctx, bob, "INBOX")
	add(pop, 0, []byte("From: x@example.org\r\nSubject: popped\r\nDate: Tue, 03 Mar 2020 12:00:00 +0000\r\n\r\npop body\r\n"), nil, "u1")
	repo.MarkGone(ctx, pop.ID, 0, nil, []string{"u1"}, archive.GonePOP3Deleted, time.Now())
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	fx.raws["alice/INBOX"] = odd
	fx.raws["alice/Archive/2019"] = [][]byte{[]byte("Subject: cleaned\r\n\r\nold report\r\n")}
	fx.raws["bob/INBOX"] = [][]byte{[]byte("From: x@example.org\r\nSubject: popped\r\nDate: Tue, 03 Mar 2020 12:00:00 +0000\r\n\r\npop body\r\n")}
	repo.Close()
	fx.reopen(t)
	return fx
}

// reopen opens the archive read-only, as serve does.
func (fx *fixture) reopen(t *testing.T) {
	t.Helper()
	r, err := archive.Open(context.Background(), fx.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.repo = r
	t.Cleanup(func() { r.Close() })
}

func start(t *testing.T, repo *archive.Repo, account string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(&Options{Repo: repo, Account: account, Username: "me", Password: "pw"})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

func login(t *testing.T, addr string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("me", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

type fetched struct {
	uid   imap.UID
	raw   []byte
	flags []imap.Flag
	date  time.Time
	size  int64
}

func fetchAll(t *testing.T, c *imapclient.Client, mailbox string) (*imap.SelectData, []fetched) {
	t.Helper()
	sd, err := c.Select(mailbox, nil).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	if sd.NumMessages == 0 {
		return sd, nil
	}
	body := &imap.FetchItemBodySection{Peek: true}
	fc := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{body}})
	var out []fetched
	for {
		m := fc.Next()
		if m == nil {
			break
		}
		var f fetched
		for {
			item := m.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				f.uid = it.UID
			case imapclient.FetchItemDataFlags:
				f.flags = it.Flags
			case imapclient.FetchItemDataInternalDate:
				f.date = it.Time
			case imapclient.FetchItemDataRFC822Size:
				f.size = it.Size
			case imapclient.FetchItemDataBodySection:
				f.raw, _ = io.ReadAll(it.Literal)
			}
		}
		out = append(out, f)
	}
	if err := fc.Close(); err != nil {
		t.Fatalf("FETCH %s: %v", mailbox, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return sd, out
}

func TestServeAllAccounts(t *testing.T) {
	fx := newFixture(t)
	c := login(t, start(t, fx.repo, ""))
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Mailbox)
	}
	want := "[INBOX alice alice/Archive alice/Archive/2019 alice/INBOX bob bob/INBOX]"
	if fmt.Sprint(names) != want {
		t.Errorf("LIST = %v, want %s", names, want)
	}
	for box, raws := range fx.raws {
		sd, msgs := fetchAll(t, c, box)
		if len(msgs) != len(raws) || sd.UIDValidity == 0 {
			t.Fatalf("%s: %d messages (UIDVALIDITY %d), want %d", box, len(msgs), sd.UIDValidity, len(raws))
		}
		for i, m := range msgs {
			if string(m.raw) != string(raws[i]) || m.size != int64(len(raws[i])) {
				t.Errorf("%s uid %d: BODY[] = %q (size %d), want %q", box, m.uid, m.raw, m.size, raws[i])
			}
		}
	}
	// Flags and dates as archived; POP3 mail dated by its Date header.
	_, msgs := fetchAll(t, c, "alice/Archive/2019")
	if fmt.Sprint(msgs[0].flags) != `[$Label1 \Flagged]` {
		t.Errorf("flags = %v", msgs[0].flags)
	}
	_, msgs = fetchAll(t, c, "alice/INBOX")
	if !msgs[0].date.Equal(time.Date(2020, 3, 2, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("INTERNALDATE = %v", msgs[0].date)
	}
	_, msgs = fetchAll(t, c, "bob/INBOX")
	if !msgs[0].date.Equal(time.Date(2020, 3, 3, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("POP3 INTERNALDATE = %v, want the Date header", msgs[0].date)
	}
}

func TestServeOneAccount(t *testing.T) {
	fx := newFixture(t)
	c := login(t, start(t, fx.repo, "alice"))
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Mailbox)
	}
	if fmt.Sprint(names) != "[INBOX Archive Archive/2019]" {
		t.Errorf("LIST = %v", names)
	}
	_, msgs := fetchAll(t, c, "INBOX")
	if len(msgs) != len(odd) {
		t.Errorf("INBOX: %d messages, want %d", len(msgs), len(odd))
	}
}

// TestServeStableUIDs: UIDs and UIDVALIDITY are the same after a restart
// and after a backup adds mail; the new mail gets larger UIDs.
func TestServeStableUIDs(t *testing.T) {
	fx := newFixture(t)
	c := login(t, start(t, fx.repo, ""))
	sd1, before := fetchAll(t, c, "alice/INBOX")
	c.Logout()

	// A backup adds a message.
	ctx := context.Background()
	w, err := archive.Open(ctx, fx.dir, &archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := w.Account(ctx, "alice", "imap")
	f, _ := w.Folder(ctx, acct, "INBOX")
	raw := []byte("Subject: new\r\n\r\nnew mail\r\n")
	h, _, _ := w.PutMessage(ctx, raw)
	w.AddMessage(ctx, &archive.Message{Folder: f.ID, UIDValidity: 7, UID: 99, Hash: h, Size: int64(len(raw))})
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()

	fx.reopen(t)
	c = login(t, start(t, fx.repo, ""))
	sd2, after := fetchAll(t, c, "alice/INBOX")
	if sd1.UIDValidity != sd2.UIDValidity || len(after) != len(before)+1 {
		t.Fatalf("UIDVALIDITY %d -> %d, %d -> %d messages", sd1.UIDValidity, sd2.UIDValidity, len(before), len(after))
	}
	for i := range before {
		if before[i].uid != after[i].uid || string(before[i].raw) != string(after[i].raw) {
			t.Errorf("message %d: uid %d -> %d", i+1, before[i].uid, after[i].uid)
		}
	}
	if last := after[len(after)-1]; last.uid <= before[len(before)-1].uid || string(last.raw) != string(raw) {
		t.Errorf("new message: uid %d, %q", last.uid, last.raw)
	}
}

func TestServeRefusesWrites(t *testing.T) {
	fx := newFixture(t)
	c := login(t, start(t, fx.repo, ""))
	if _, err := c.Select("alice/INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all := imap.SeqSet{{Start: 1, Stop: 0}}
	cmds := map[string]func() error{
		"APPEND": func() error {
			a := c.Append("alice/INBOX", 3, nil)
			a.Write([]byte("x\r\n"))
			a.Close()
			_, err := a.Wait()
			return err
		},
		"STORE": func() error {
			return c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		},
		"EXPUNGE": func() error { return c.Expunge().Close() },
		"COPY":    func() error { _, err := c.Copy(all, "bob/INBOX").Wait(); return err },
		"CREATE":  func() error { return c.Create("New", nil).Wait() },
		"DELETE":  func() error { return c.Delete("alice/INBOX").Wait() },
		"RENAME":  func() error { return c.Rename("alice/INBOX", "x", nil).Wait() },
	}
	for name, fn := range cmds {
		err := fn()
		var ie *imap.Error
		if err == nil || !strings.Contains(err.Error(), "read-only archive") {
			t.Errorf("%s = %v, want NO ... read-only archive", name, err)
		} else if e, ok := err.(*imap.Error); ok {
			ie = e
			if ie.Type != imap.StatusResponseTypeNo {
				t.Errorf("%s answered %s, want NO", name, ie.Type)
			}
		}
	}
	// Nothing changed.
	_, msgs := fetchAll(t, c, "alice/INBOX")
	if len(msgs) != len(odd) {
		t.Errorf("after the refused commands: %d messages", len(msgs))
	}
	for _, m := range msgs {
		if fmt.Sprint(m.flags) != `[\Seen]` {
			t.Errorf("uid %d flags %v", m.uid, m.flags)
		}
	}
}

func TestServeSearch(t *testing.T) {
	fx := newFixture(t)
	c := login(t, start(t, fx.repo, ""))
	if _, err := c.Select("alice/INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *imap.SearchCriteria
		want int
	}{
		{"Text", &imap.SearchCriteria{Text: []string{"invoice"}}, 1},
		{"TextPrefix", &imap.SearchCriteria{Text: []string{"invo"}}, 1},
		{"Subject", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "bare"}}}, 1},
		{"From", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "c@example.org"}}}, 1},
		{"OtherHeader", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Date", Value: "2020"}}}, 1},
		{"Body", &imap.SearchCriteria{Body: []string{"line"}}, 1},
		{"Seen", &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, 5},
		{"Unseen", &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, 0},
		{"Not", &imap.SearchCriteria{Not: []imap.SearchCriteria{{Text: []string{"invoice"}}}}, 4},
		{"Or", &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Text: []string{"invoice"}}, {Body: []string{"abc"}}}}}, 2},
		{"Larger", &imap.SearchCriteria{Larger: 60}, larger(60)},
		{"Since", &imap.SearchCriteria{Since: time.Date(2020, 3, 3, 0, 0, 0, 0, time.UTC)}, 0},
		{"All", &imap.SearchCriteria{}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.UIDSearch(tc.c, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if got := len(d.AllUIDs()); got != tc.want {
				t.Errorf("UID SEARCH = %v, want %d hits", d.AllUIDs(), tc.want)
			}
		})
	}
}

func TestServeLoginRequired(t *testing.T) {
	fx := newFixture(t)
	addr := start(t, fx.repo, "")
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("me", "wrong").Wait(); err == nil {
		t.Error("LOGIN with a wrong password succeeded")
	}
	if _, err := c.Select("INBOX", nil).Wait(); err == nil {
		t.Error("SELECT before LOGIN succeeded")
	}
}

func larger(n int) int {
	k := 0
	for _, raw := range odd {
		if len(raw) > n {
			k++
		}
	}
	return k
}

// TestServeSelectSaysReadOnly: SELECT's tagged OK says [READ-ONLY] and no
// flag is permanent, so clients know before they try (RFC 3501 6.3.1).
func TestServeSelectSaysReadOnly(t *testing.T) {
	fx := newFixture(t)
	conn, err := net.Dial("tcp", start(t, fx.repo, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "a LOGIN me pw\r\nb SELECT alice/INBOX\r\n")
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 1024)
	for !strings.Contains(string(buf), "b OK") && !strings.Contains(string(buf), "b NO") {
		n, err := conn.Read(tmp)
		if err != nil {
			t.Fatalf("read: %v after %q", err, buf)
		}
		buf = append(buf, tmp[:n]...)
	}
	got := string(buf)
	if !strings.Contains(got, "b OK [READ-ONLY] SELECT completed") || !strings.Contains(got, "[PERMANENTFLAGS ()]") {
		t.Errorf("SELECT answer:\n%s", got)
	}
}

// TestServePollSeesBackup: a backup that commits while a client has the
// folder selected shows up at the client's next NOOP as new messages.
func TestServePollSeesBackup(t *testing.T) {
	fx := newFixture(t)
	addr := start(t, fx.repo, "")
	exists := make(chan uint32, 10)
	c, err := imapclient.DialInsecure(addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("me", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("alice/INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-exists:
		t.Fatalf("EXISTS %d before anything changed", n)
	default:
	}
	ctx := context.Background()
	w, err := archive.Open(ctx, fx.dir, &archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := w.Account(ctx, "alice", "imap")
	f, _ := w.Folder(ctx, acct, "INBOX")
	raw := []byte("Subject: arrived\r\n\r\nwhile you looked\r\n")
	h, _, _ := w.PutMessage(ctx, raw)
	w.AddMessage(ctx, &archive.Message{Folder: f.ID, UIDValidity: 7, UID: 50, Hash: h, Size: int64(len(raw))})
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-exists:
		if n != uint32(len(odd)+1) {
			t.Errorf("EXISTS %d, want %d", n, len(odd)+1)
		}
	default:
		t.Error("no EXISTS after a backup added a message")
	}
}
