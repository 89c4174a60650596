package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// account is a test IMAP account: where it is and how to log in.
type account struct {
	name, addr, user, pass string
	security               string
}

func (a account) login() *imapconn.Options {
	sec := a.security
	if sec == "" {
		sec = "none"
	}
	return &imapconn.Options{Addr: a.addr, Security: sec, Username: a.user, Timeout: 20 * time.Second,
		Secret: func(context.Context) (string, error) { return a.pass, nil }}
}

func (a account) dial(ctx context.Context) (*imapconn.Conn, error) {
	return imapconn.Dial(ctx, a.login())
}

func (a account) target() *Target {
	return &Target{Name: a.name, Dial: a.dial, Login: a.login(), Connections: 3, Backoff: 10 * time.Millisecond}
}

func (a account) backupFn(repo *archive.Repo, rep progress.Reporter) Backup {
	return func(ctx context.Context) *backup.Result {
		return backup.IMAP(ctx, repo, &backup.IMAPAccount{Name: a.name, Dial: a.dial, Backoff: 10 * time.Millisecond, CommitEvery: 7}, rep)
	}
}

// inproc starts an in-process IMAP server with one user.
func inproc(t testing.TB, name string, opts *imapsrv.Options) (*imapsrv.Server, account) {
	t.Helper()
	srv := imapsrv.New(opts)
	srv.AddUser("u", "p")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, account{name: name, addr: srv.Addr(), user: "u", pass: "p"}
}

func newRepo(t testing.TB) *archive.Repo {
	t.Helper()
	return newRepoWith(t, &archive.Options{})
}

// newRepoWith opens a new archive with opts (Create and Purpose set here).
func newRepoWith(t testing.TB, opts *archive.Options) *archive.Repo {
	t.Helper()
	o := *opts
	o.Create, o.Purpose = true, "test"
	r, err := archive.Open(context.Background(), t.TempDir(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// seedSample fills an imapsrv account with sample mail: ordinary messages,
// the awkward kinds, and one message filed twice in INBOX.
func seedSample(srv *imapsrv.Server, user string, n int) {
	for _, f := range sample.Folders {
		if f.SpecialUse != "" {
			srv.AddMailbox(user, f.Name, imap.MailboxAttr(f.SpecialUse))
		} else if f.Name != "INBOX" {
			srv.AddMailbox(user, f.Name)
		}
	}
	for _, m := range sample.Generate(n, 7) {
		srv.AddMessage(user, m.Folder, m.Raw, m.Flags, m.Date)
	}
	for i, m := range sample.Awkward() {
		if m.Name == "empty" {
			continue // go-imap's server cannot APPEND an empty literal (tested against Dovecot instead)
		}
		srv.AddMessage(user, "Lists/dovecot", m.Raw, []string{`\Seen`}, time.Date(2020, 1, 2, 3, 4, i, 0, time.FixedZone("", -5*3600)))
	}
	twin := []byte("Subject: twin\r\nMessage-ID: <twin@example>\r\n\r\nthe same bytes twice in one folder\r\n")
	d := time.Date(2021, 6, 1, 12, 0, 0, 0, time.FixedZone("", 2*3600))
	srv.AddMessage(user, "INBOX", twin, nil, d)
	srv.AddMessage(user, "INBOX", twin, nil, d)
}

// msgInfo is one message as a client sees it.
type msgInfo struct {
	hash  string
	flags string
	date  time.Time
	uid   uint32
}

func (m msgInfo) String() string {
	return fmt.Sprintf("%s flags=[%s] date=%s", m.hash[:12], m.flags, m.date.Format(time.RFC3339))
}

// snapshot reads every message of every folder: SHA-256 of BODY.PEEK[],
// flags (without \Recent) and INTERNALDATE.
func snapshot(t testing.TB, a account) map[string][]msgInfo {
	t.Helper()
	c, err := a.dial(context.Background())
	if err != nil {
		t.Fatalf("snapshot %s: %v", a.name, err)
	}
	defer c.Close()
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("snapshot %s: list: %v", a.name, err)
	}
	out := map[string][]msgInfo{}
	for _, b := range boxes {
		skip := false
		for _, at := range b.Attrs {
			if at == imap.MailboxAttrNoSelect || at == imap.MailboxAttrNonExistent {
				skip = true
			}
		}
		if skip {
			continue
		}
		sel, err := c.Select(b.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("snapshot %s: select %s: %v", a.name, b.Mailbox, err)
		}
		out[b.Mailbox] = []msgInfo{}
		if sel.NumMessages == 0 {
			continue
		}
		fc := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		for {
			msg := fc.Next()
			if msg == nil {
				break
			}
			var mi msgInfo
			for {
				it := msg.Next()
				if it == nil {
					break
				}
				switch d := it.(type) {
				case imapclient.FetchItemDataUID:
					mi.uid = uint32(d.UID)
				case imapclient.FetchItemDataFlags:
					var fl []string
					for _, f := range d.Flags {
						fl = append(fl, string(f))
					}
					mi.flags = archive.JoinFlags(fl)
				case imapclient.FetchItemDataInternalDate:
					mi.date = d.Time
				case imapclient.FetchItemDataBodySection:
					h := sha256.New()
					if d.Literal != nil {
						io.Copy(h, d.Literal)
					}
					mi.hash = hex.EncodeToString(h.Sum(nil))
				}
			}
			out[b.Mailbox] = append(out[b.Mailbox], mi)
		}
		if err := fc.Close(); err != nil {
			t.Fatalf("snapshot %s: fetch %s: %v", a.name, b.Mailbox, err)
		}
	}
	return out
}

// compareOpts say what a comparison may forgive.
type compareOpts struct {
	folder    func(string) string // source folder -> target folder; nil: same name
	zoneLost  bool                // the target keeps the instant but not the zone (Dovecot)
	extra     bool                // the target may hold other mail too
	flagsSkip func(string) string // normalises flags before comparing (dropped flags)
}

// compare checks that every source message is in its target folder exactly
// as often as in the source, with the same bytes, flags and INTERNALDATE,
// and (unless extra) that the target holds nothing else.
func compare(t testing.TB, src, dst map[string][]msgInfo, o compareOpts) {
	t.Helper()
	key := func(m msgInfo) string {
		d := m.date.Format(time.RFC3339)
		if o.zoneLost {
			d = m.date.UTC().Format(time.RFC3339)
		}
		fl := m.flags
		if o.flagsSkip != nil {
			fl = o.flagsSkip(fl)
		}
		return m.hash + " [" + fl + "] " + d
	}
	want := map[string]map[string]int{}
	for f, ms := range src {
		tf := f
		if o.folder != nil {
			tf = o.folder(f)
		}
		if want[tf] == nil {
			want[tf] = map[string]int{}
		}
		for _, m := range ms {
			want[tf][key(m)]++
		}
	}
	n := 0
	for tf, w := range want {
		got := map[string]int{}
		ms, ok := dst[tf]
		if !ok {
			t.Errorf("target has no folder %q", tf)
			continue
		}
		for _, m := range ms {
			got[key(m)]++
		}
		for k, c := range w {
			if got[k] != c {
				t.Errorf("folder %q: message %s: target has it %d times, source %d", tf, k, got[k], c)
			}
			n += c
		}
		if !o.extra {
			for k, c := range got {
				if w[k] == 0 {
					t.Errorf("folder %q: target has %d unexpected copies of %s", tf, c, k)
				}
			}
			if len(ms) != sum(w) {
				t.Errorf("folder %q: target holds %d messages, source %d", tf, len(ms), sum(w))
			}
		}
	}
	if n == 0 {
		t.Errorf("compare: no messages compared")
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func count(s map[string][]msgInfo) int {
	n := 0
	for _, ms := range s {
		n += len(ms)
	}
	return n
}

// events collects progress events for assertions.
type events struct {
	mu  sync.Mutex
	all []progress.Event
	on  func(progress.Event)
}

func (e *events) Report(ev progress.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	on := e.on
	e.mu.Unlock()
	if on != nil {
		on(ev)
	}
}

func (e *events) text(kind progress.Kind) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, ev := range e.all {
		if ev.Kind == kind {
			fmt.Fprintf(&b, "%s/%s: %s %v\n", ev.Account, ev.Folder, ev.Text, ev.Err)
		}
	}
	return b.String()
}

// checkResult fails the test unless the run reached everything with the
// counts given (-1: do not check).
func checkResult(t testing.TB, r *Result, copied, adopted int64) {
	t.Helper()
	if err := r.Err(); err != nil {
		t.Fatalf("run failed: %v", err)
	}
	in, on, c, a, _, skipped, _ := r.Totals()
	if in != on || skipped != 0 {
		t.Errorf("in source %d, on target %d, skipped %d; want all on target", in, on, skipped)
	}
	if copied >= 0 && c != copied {
		t.Errorf("copied %d, want %d", c, copied)
	}
	if adopted >= 0 && a != adopted {
		t.Errorf("adopted %d, want %d", a, adopted)
	}
}

func folderNames(s map[string][]msgInfo) []string {
	var out []string
	for f := range s {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}
