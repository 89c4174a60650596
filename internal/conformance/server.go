package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/internal/imapconn"
)

// Server is one kind of mail server the suite runs against.
type Server interface {
	// Name is short and stable: imapsrv, dovecot, cyrus-debian, ...
	Name() string
	// NewAccount returns a fresh, empty account nobody else uses.
	NewAccount(t testing.TB) *Account
}

// Account is one account on a Server.
type Account struct {
	Server   string // the Server's Name
	IMAPAddr string // plain IMAP, 127.0.0.1:PORT
	POP3Addr string // plain POP3 of the same maildrop; "" without POP3
	User     string
	Password string
	// Prefix and Delimiter describe the personal namespace ("" and '/',
	// or "INBOX." and '.').
	Prefix    string
	Delimiter rune
	// ZoneLost: the server keeps INTERNALDATE's instant but not its zone.
	ZoneLost bool

	// addPOP3 puts a message into the POP3 maildrop when that is not the
	// IMAP INBOX (the in-process servers); nil: APPEND to INBOX.
	addPOP3 func(raw []byte)
	// probe returns a scratch account of the same server (see Probe).
	probe func(t testing.TB) *Account
}

// Name maps a canonical folder name ("/" between levels, no prefix) to the
// server's: "Archive/2019" is "INBOX.Archive.2019" with prefix "INBOX.".
func (a *Account) Name(canonical string) string {
	if strings.EqualFold(canonical, "INBOX") {
		return "INBOX"
	}
	return a.Prefix + strings.ReplaceAll(canonical, "/", string(a.Delimiter))
}

// Canonical is the inverse of Name.
func (a *Account) Canonical(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	name = strings.TrimPrefix(name, a.Prefix)
	return strings.ReplaceAll(name, string(a.Delimiter), "/")
}

// Login is how mailkeep connects to the account.
func (a *Account) Login() *imapconn.Options {
	return &imapconn.Options{Addr: a.IMAPAddr, Security: "none", Username: a.User, Timeout: 20 * time.Second,
		Secret: func(context.Context) (string, error) { return a.Password, nil }}
}

// Dial opens mailkeep's connection (for backup, restore, cleanup).
func (a *Account) Dial(ctx context.Context) (*imapconn.Conn, error) {
	return imapconn.Dial(ctx, a.Login())
}

// Client opens an independent go-imap connection, closed when the test
// ends: the suite seeds and inspects the server with it.
func (a *Account) Client(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(a.IMAPAddr, nil)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", a.Server, a.IMAPAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(a.User, a.Password).Wait(); err != nil {
		t.Fatalf("%s: login %s: %v", a.Server, a.User, err)
	}
	return c
}

// Message is one message to seed.
type Message struct {
	Raw   []byte
	Flags []string
	Date  time.Time
}

// Refusal is a message a server would not take, and its answer.
type Refusal struct {
	Raw    []byte
	Reason string
}

// Append APPENDs msgs to a folder (canonical name; created, with its
// special use where the server can, and subscribed when missing) and
// returns the UIDs of those the server took, in order, and what it
// refused (Cyrus: bare LF, NUL, empty; Dovecot: empty).
func (a *Account) Append(t testing.TB, folder, specialUse string, msgs []Message) ([]imap.UID, []Refusal) {
	t.Helper()
	c := a.Client(t)
	a.Create(t, c, folder, specialUse)
	var uids []imap.UID
	var refused []Refusal
	for i, m := range msgs {
		uid, err := appendOne(c, a.Name(folder), m)
		var ie *imap.Error
		switch {
		case errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo:
			refused = append(refused, Refusal{Raw: m.Raw, Reason: ie.Text})
		case err != nil:
			t.Fatalf("%s: APPEND message %d to %s: %v", a.Server, i, a.Name(folder), err)
		default:
			uids = append(uids, uid)
		}
	}
	return uids, refused
}

func appendOne(c *imapclient.Client, mailbox string, m Message) (imap.UID, error) {
	var flags []imap.Flag
	for _, f := range m.Flags {
		flags = append(flags, imap.Flag(f))
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	cmd := c.Append(mailbox, int64(len(m.Raw)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write(m.Raw); err != nil {
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	d, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return d.UID, nil
}

// Create makes a folder (canonical name) if it is missing, with its
// special use where the server has CREATE-SPECIAL-USE, and subscribes it.
func (a *Account) Create(t testing.TB, c *imapclient.Client, folder, specialUse string) {
	t.Helper()
	if strings.EqualFold(folder, "INBOX") {
		return
	}
	name := a.Name(folder)
	var opts *imap.CreateOptions
	if specialUse != "" && c.Caps().Has(imap.CapCreateSpecialUse) {
		opts = &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttr(specialUse)}}
	}
	if err := c.Create(name, opts).Wait(); err != nil && !exists(err) {
		t.Fatalf("%s: CREATE %s: %v", a.Server, name, err)
	}
	if err := c.Subscribe(name).Wait(); err != nil {
		t.Fatalf("%s: SUBSCRIBE %s: %v", a.Server, name, err)
	}
}

// exists: RFC 5530 ALREADYEXISTS, or Cyrus 3.6's "Mailbox already exists"
// without the code.
func exists(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && (ie.Code == imap.ResponseCodeAlreadyExists || strings.Contains(strings.ToLower(ie.Text), "already exists"))
}

// AddToMaildrop puts messages into the account's POP3 maildrop and
// returns how many the server took.
func (a *Account) AddToMaildrop(t testing.TB, raws ...[]byte) int {
	t.Helper()
	if a.addPOP3 != nil {
		for _, raw := range raws {
			a.addPOP3(raw)
		}
		return len(raws)
	}
	var msgs []Message
	for _, raw := range raws {
		msgs = append(msgs, Message{Raw: raw, Date: time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)})
	}
	uids, _ := a.Append(t, "INBOX", "", msgs)
	return len(uids)
}

func (a *Account) String() string { return fmt.Sprintf("%s:%s", a.Server, a.User) }
