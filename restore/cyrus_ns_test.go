package restore

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/cyrus"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
)

func cyrusAcct(srv *cyrus.Server, name, user, pass string) account {
	return account{name: name, addr: srv.IMAPAddr, user: user, pass: pass}
}

// TestCyrusFolderNames (issue 12, defects 3, 4 and 5): from a Cyrus with
// the INBOX. prefix, folder patterns, export and migrate all use the
// canonical names (Sent, not INBOX.Sent), and another user's shared folder
// and a public folder are neither exported nor migrated.
func TestCyrusFolderNames(t *testing.T) {
	srv := cyrus.Shared(t, cyrus.LayoutDebian)
	user, pass := srv.NewUser(t)
	owner, _ := srv.NewUser(t)
	msg := func(i int, folder string) cyrus.Message {
		return cyrus.Message{Raw: []byte("From: a@example.org\r\nSubject: " + folder + "\r\nMessage-ID: <" + folder + string(rune('a'+i)) +
			"@x>\r\n\r\nbody\r\n"), Date: time.Date(2020, 1, 1+i, 0, 0, 0, 0, time.UTC)}
	}
	for _, f := range [][]string{{"INBOX"}, {"Sent"}, {"Archive", "2019"}, {"Trash"}} {
		folder := srv.Folder(f...)
		srv.Append(t, user, folder, []cyrus.Message{msg(0, strings.Join(f, "")), msg(1, strings.Join(f, ""))})
	}
	sh := srv.ShareFolder(t, owner, []string{"Shared"}, user, "lrswipkxtecda")
	srv.Append(t, owner, sh.AsOwner, []cyrus.Message{msg(0, "shared")})
	pub := srv.PublicFolder(t, []string{"Pub" + user}, user, "lrs")
	srv.Append(t, srv.Admin, pub.Internal, []cyrus.Message{msg(0, "public")})

	sa := cyrusAcct(srv, "old", user, pass)
	repo := newRepo(t)
	f := config.FolderFilter{Exclude: []string{"Trash"}}
	if r := backup.IMAP(context.Background(), repo, &backup.IMAPAccount{Name: "old", Dial: sa.dial, Include: f.Match, Filter: &f}, nil); !r.OK() {
		t.Fatalf("backup: %v", r.Err())
	}

	// Export: no INBOX. level, no Trash, nobody else's folders.
	out := t.TempDir()
	er := Export(context.Background(), repo, &ExportOptions{Account: "old", Format: mailfmt.Maildir, Out: out}, nil)
	if !er.OK() {
		t.Fatalf("export: %v", er.Fatal)
	}
	var names []string
	for _, ef := range er.Folders {
		names = append(names, ef.Name+"="+filepath.Base(ef.Path))
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); strings.Contains(got, "INBOX.") || strings.Contains(got, "Trash") ||
		strings.Contains(got, "Shared") || strings.Contains(got, "Pub") || len(names) != 3 {
		t.Errorf("exported folders = %s; want INBOX, Sent and Archive.2019 without the INBOX. level", got)
	}
	// The same pattern on the command line of an export.
	out2 := t.TempDir()
	er = Export(context.Background(), repo, &ExportOptions{Account: "old", Format: mailfmt.Maildir, Out: out2,
		Include: config.FolderFilter{Include: []string{"Archive/*"}}.Match}, nil)
	if !er.OK() || len(er.Folders) != 1 || er.Folders[0].Messages != 2 {
		t.Errorf("export --folder 'Archive/*' = %+v, want the 2 messages of INBOX.Archive.2019", er.Folders)
	}

	// Migrate into an altnamespace Cyrus: Sent to Sent, Archive.2019 to
	// Archive/2019, no other user's or public folder planned.
	alt := cyrus.Shared(t, cyrus.LayoutAlt)
	tu, tp := alt.NewUser(t)
	ta := cyrusAcct(alt, "new", tu, tp)
	r := Migrate(context.Background(), repo, ta.target(), &Options{Source: "old", Include: f.Match},
		func(ctx context.Context) *backup.Result {
			return backup.IMAP(ctx, repo, &backup.IMAPAccount{Name: "old", Dial: sa.dial, Include: f.Match}, nil)
		}, nil)
	checkResult(t, r, 6, 0)
	var targets []string
	for _, fr := range r.Folders {
		targets = append(targets, fr.Target)
	}
	sort.Strings(targets)
	// Cyrus made INBOX.Archive a real (empty) folder when INBOX.Archive.2019 was created.
	if got := strings.Join(targets, ","); got != "Archive,Archive/2019,INBOX,Sent" {
		t.Errorf("migrated into %s, want Archive,Archive/2019,INBOX,Sent", got)
	}
	c, err := imapconn.Dial(context.Background(), ta.login())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, name := range []string{"Sent", "Archive/2019"} {
		if sel, err := c.Select(name, nil).Wait(); err != nil || sel.NumMessages != 2 {
			t.Errorf("target %s: %v, %v messages; want 2", name, err, sel)
		}
	}
}
