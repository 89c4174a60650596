package backup

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/cyrus"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// cyrusAccount is a Cyrus user with old mail in INBOX and Sent, another
// user's folder shared with full rights, another user's folder shared for
// lookup only, and a public folder: issue 12, defects 3 and 4.
type cyrusAccount struct {
	srv                   *cyrus.Server
	user, pass            string
	shared, lookup, pub   cyrus.SharedFolder
	sent                  string
	old                   time.Time
	inbox, sentN, sharedN int
}

func newCyrusAccount(t *testing.T, layout cyrus.Layout) *cyrusAccount {
	t.Helper()
	srv := cyrus.Shared(t, layout)
	user, pass := srv.NewUser(t)
	owner, _ := srv.NewUser(t)
	a := &cyrusAccount{srv: srv, user: user, pass: pass, sent: srv.Folder("Sent"), old: clDay(800)}
	msgs := func(folder string, n int) []cyrus.Message {
		var out []cyrus.Message
		for _, m := range clCorpus(folder, n) {
			out = append(out, cyrus.Message{Raw: m.raw, Date: a.old})
		}
		return out
	}
	srv.Append(t, user, "INBOX", msgs("INBOX", 5))
	srv.Append(t, user, a.sent, msgs("Sent", 4))
	a.inbox, a.sentN, a.sharedN = 5, 4, 3
	a.shared = srv.ShareFolder(t, owner, []string{"Shared"}, user, "lrswipkxtecda")
	srv.Append(t, owner, a.shared.AsOwner, msgs("Shared", 3))
	a.lookup = srv.ShareFolder(t, owner, []string{"Private"}, user, "l")
	srv.Append(t, owner, a.lookup.AsOwner, msgs("Private", 2))
	a.pub = srv.PublicFolder(t, []string{fmt.Sprintf("Public%s", user)}, user, "lrs")
	srv.Append(t, srv.Admin, a.pub.Internal, msgs("Public", 2))
	return a
}

func (a *cyrusAccount) dial() func(context.Context) (*imapconn.Conn, error) {
	return func(ctx context.Context) (*imapconn.Conn, error) {
		return imapconn.Dial(ctx, &imapconn.Options{Addr: a.srv.IMAPAddr, Security: "none", Username: a.user, Timeout: 20 * time.Second,
			Secret: func(context.Context) (string, error) { return a.pass, nil }})
	}
}

// count is how many messages the owner of a folder sees in it.
func (a *cyrusAccount) count(t *testing.T, user, folder string) uint32 {
	t.Helper()
	pass := a.pass
	if user != a.user {
		pass = a.srv.PasswordOf(user)
	}
	c, err := imapconn.Dial(context.Background(), &imapconn.Options{Addr: a.srv.IMAPAddr, Security: "none", Username: user,
		Timeout: 20 * time.Second, Secret: func(context.Context) (string, error) { return pass, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sel, err := c.Select(folder, nil).Wait()
	if err != nil {
		t.Fatalf("select %s as %s: %v", folder, user, err)
	}
	return sel.NumMessages
}

func TestCyrusNamespaces(t *testing.T) {
	for _, layout := range []cyrus.Layout{cyrus.LayoutDebian, cyrus.LayoutAlt} {
		t.Run(layout.String(), func(t *testing.T) {
			a := newCyrusAccount(t, layout)
			repo, _ := clRepo(t)

			// Backup: the account's own folders only, exit 0, a pattern
			// written in the canonical form excludes INBOX.Sent.
			f := config.FolderFilter{Exclude: []string{"Sent"}}
			rec := &clRec{}
			res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: a.dial(), Include: f.Match, Filter: &f}, rec)
			if !res.OK() {
				t.Fatalf("backup: %v", res.Err())
			}
			got := archivedFolders(t, repo)
			if len(got) != 1 || got["INBOX"] != a.inbox {
				t.Errorf("archived = %v, want INBOX only (Sent excluded, others not the account's)", got)
			}
			if rec.has(progress.Warning, "matches no folder") {
				t.Errorf("pattern Sent said to match nothing: %+v", rec.events)
			}

			// Every namespace asked for: the shared and public folders
			// too; the lookup-only one skipped once, still exit 0.
			res = IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: a.dial(),
				Namespaces: namespace.Wanted{namespace.Personal, namespace.Other, namespace.Shared}}, nil)
			if !res.OK() || len(res.NoAccess) != 1 || !strings.HasSuffix(res.NoAccess[0], "Private") {
				t.Fatalf("backup of every namespace: ok %v, NoAccess %q, err %v", res.OK(), res.NoAccess, res.Err())
			}
			got = archivedFolders(t, repo)
			if got[a.shared.AsGrantee] != a.sharedN || got[a.pub.AsGrantee] != 2 || got[a.sent] != a.sentN {
				t.Errorf("archived = %v, want %s, %s and %s too", got, a.shared.AsGrantee, a.pub.AsGrantee, a.sent)
			}

			// Cleanup of everything old: the account's own folders only,
			// even though it may delete in the shared one.
			rec = &clRec{}
			cres := Cleanup(context.Background(), repo, &CleanupAccount{Name: "acct", Dial: a.dial(), Before: clCutoff(30),
				Backoff: 10 * time.Millisecond}, rec)
			if cres.Fatal != nil || len(cres.Errors) > 0 {
				t.Fatalf("cleanup: %v %v", cres.Fatal, cres.Errors)
			}
			if cres.Deleted != int64(a.inbox+a.sentN) {
				t.Errorf("cleanup deleted %d, want %d (INBOX and Sent)", cres.Deleted, a.inbox+a.sentN)
			}
			for _, fr := range cres.Folders {
				if fr.Name != "INBOX" && fr.Name != a.sent {
					t.Errorf("cleanup looked at %s", fr.Name)
				}
			}
			if n := a.count(t, a.shared.Owner, a.shared.AsOwner); n != uint32(a.sharedN) {
				t.Errorf("the owner's shared folder holds %d messages after the cleanup, want %d", n, a.sharedN)
			}
			// Defect 5: Cyrus offers QUOTA, but this user has no quota root.
			if len(cres.QuotaBefore) != 0 || !strings.Contains(cres.QuotaNote, "no quota root") {
				t.Errorf("quota = %v, note %q; want none, and a note saying there is no quota root", cres.QuotaBefore, cres.QuotaNote)
			}
		})
	}
}
