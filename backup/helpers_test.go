package backup

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/sample"
)

const testUser, testPass = "alice", "pw"

// newServer starts an in-process IMAP server with the sample folders.
func newServer(t testing.TB, opts *imapsrv.Options) *imapsrv.Server {
	t.Helper()
	srv := imapsrv.New(opts)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser(testUser, testPass)
	for _, f := range sample.Folders {
		if f.Name == "INBOX" {
			continue
		}
		var su []imap.MailboxAttr
		if f.SpecialUse != "" {
			su = append(su, imap.MailboxAttr(f.SpecialUse))
		}
		if err := srv.AddMailbox(testUser, f.Name, su...); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// seed puts the awkward messages into INBOX and n ordinary ones around.
func seed(srv *imapsrv.Server, n int) {
	for i, m := range sample.Awkward() {
		srv.AddMessage(testUser, "INBOX", m.Raw, []string{`\Seen`, "$Label1"}[:i%3],
			time.Date(2021, 5, 1+i, 8, 30, 0, 0, time.FixedZone("", -4*3600)))
	}
	for _, m := range sample.Generate(n, 7) {
		srv.AddMessage(testUser, m.Folder, m.Raw, m.Flags, m.Date)
	}
}

func dialer(addr string, timeout time.Duration) func(context.Context) (*imapconn.Conn, error) {
	return func(ctx context.Context) (*imapconn.Conn, error) {
		return imapconn.Dial(ctx, &imapconn.Options{Addr: addr, Security: "none", Username: testUser, Timeout: timeout,
			Secret: func(context.Context) (string, error) { return testPass, nil }})
	}
}

func openRepo(t testing.TB, dir string) *archive.Repo {
	t.Helper()
	r, err := archive.Open(context.Background(), dir, &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// events collects progress events for assertions.
type events struct {
	ch []progress.Event
}

func (e *events) Report(ev progress.Event) { e.ch = append(e.ch, ev) }

func backupOnce(t testing.TB, repo *archive.Repo, addr string) *Result {
	t.Helper()
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(addr, 5*time.Second), Backoff: 10 * time.Millisecond}, nil)
	return res
}

// compare checks that every message on the server is in the archive with
// the same bytes, flags and INTERNALDATE, and that the archive has no
// present message the server lacks.
func compare(t testing.TB, repo *archive.Repo, srv *imapsrv.Server) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, mb := range srv.Mailboxes(testUser) {
		stored := map[uint32]*archive.Entry{}
		for e, err := range repo.Messages(ctx, archive.Query{Account: "acct", Folder: mb.Name}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.UIDValidity != srv.UIDValidity(testUser, mb.Name) {
				t.Errorf("%s uid %d: archived under UIDVALIDITY %d, server has %d", mb.Name, e.UID, e.UIDValidity, srv.UIDValidity(testUser, mb.Name))
			}
			stored[e.UID] = e
		}
		msgs := srv.Messages(testUser, mb.Name)
		if len(stored) != len(msgs) {
			t.Errorf("%s: archive has %d present messages, server %d", mb.Name, len(stored), len(msgs))
		}
		for _, m := range msgs {
			n++
			e := stored[m.UID]
			if e == nil {
				t.Errorf("%s uid %d: not in the archive", mb.Name, m.UID)
				continue
			}
			raw, err := repo.ReadMessage(ctx, e.Hash)
			if err != nil {
				t.Errorf("%s uid %d: ReadMessage() = %v", mb.Name, m.UID, err)
				continue
			}
			if !bytes.Equal(raw, m.Raw) || archive.HashBytes(raw) != archive.HashBytes(m.Raw) {
				t.Errorf("%s uid %d: archived bytes differ (%d vs %d bytes)", mb.Name, m.UID, len(raw), len(m.Raw))
			}
			if got, want := archive.JoinFlags(e.Flags), archive.JoinFlags(m.Flags); got != want {
				t.Errorf("%s uid %d: flags = %q, want %q", mb.Name, m.UID, got, want)
			}
			if !e.InternalDate.Equal(m.Date) || e.InternalDate.Format(archive.DateLayout) != m.Date.Format(archive.DateLayout) {
				t.Errorf("%s uid %d: INTERNALDATE = %s, want %s", mb.Name, m.UID, e.InternalDate.Format(archive.DateLayout), m.Date.Format(archive.DateLayout))
			}
		}
	}
	return n
}

type eventT = progress.Event

type reporterFunc func(progress.Event)

func (f reporterFunc) Report(e progress.Event) { f(e) }
