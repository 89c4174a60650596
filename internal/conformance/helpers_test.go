package conformance

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/cyrus"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/sample"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dovecot.StopShared()
	cyrus.StopShared()
	os.Exit(code)
}

// forEachServer runs scenario once per server, each on fresh accounts.
func forEachServer(t *testing.T, scenario func(t *testing.T, srv Server)) {
	for _, srv := range Servers() {
		t.Run(srv.Name(), func(t *testing.T) {
			t.Parallel()
			scenario(t, srv)
		})
	}
}

func newRepo(t testing.TB) *archive.Repo {
	t.Helper()
	r, err := archive.Open(context.Background(), t.TempDir(), &archive.Options{Create: true, Purpose: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// seed fills an account with the sample mail: n ordinary messages over
// the sample folders (Sent with its special use), the awkward kinds in
// Lists/dovecot (those the server takes), and one message twice in INBOX.
// It returns how many messages the server took.
func seed(t testing.TB, a *Account, n int, s uint64) int {
	t.Helper()
	by := map[string][]Message{}
	for _, m := range sample.Generate(n, s) {
		by[m.Folder] = append(by[m.Folder], Message{Raw: m.Raw, Flags: m.Flags, Date: m.Date})
	}
	for i, m := range sample.Awkward() {
		by["Lists/dovecot"] = append(by["Lists/dovecot"], Message{Raw: m.Raw, Flags: []string{`\Seen`, "$Awkward"}[:i%3],
			Date: time.Date(2020, 1, 2, 3, 4, i, 0, time.FixedZone("", -5*3600))})
	}
	twin := Message{Raw: []byte("Subject: twin\r\nMessage-ID: <twin@example>\r\n\r\ntwice in one folder\r\n"),
		Date: time.Date(2021, 6, 1, 12, 0, 0, 0, time.FixedZone("", 2*3600))}
	by["INBOX"] = append(by["INBOX"], twin, twin)
	took := 0
	for _, f := range sample.Folders {
		use := ""
		if f.SpecialUse == `\Sent` {
			// Only Sent carries its role: Dovecot has a \Drafts folder of
			// its own, and a second one would merge into it on a target.
			use = f.SpecialUse
		}
		uids, _ := a.Append(t, f.Name, use, by[f.Name])
		took += len(uids)
	}
	return took
}

func backupFn(a *Account, repo *archive.Repo, name string) func(ctx context.Context) *backup.Result {
	return func(ctx context.Context) *backup.Result {
		return backup.IMAP(ctx, repo, &backup.IMAPAccount{Name: name, Dial: a.Dial, Backoff: 10 * time.Millisecond, CommitEvery: 7}, nil)
	}
}

// runBackup backs the account up as "acct" and fails the test unless it
// went through.
func runBackup(t testing.TB, repo *archive.Repo, a *Account) *backup.Result {
	t.Helper()
	res := backupFn(a, repo, "acct")(context.Background())
	if !res.OK() {
		t.Fatalf("%s: backup failed: %v", a.Server, res.Err())
	}
	return res
}

// archiveMatches checks the archive against what the server serves now:
// every message by SHA-256 (index and stored bytes), flags, INTERNALDATE
// (zone included), UIDVALIDITY, and no extra present message in the
// archive. It returns how many messages it compared.
func archiveMatches(t testing.TB, repo *archive.Repo, a *Account, account string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for canon, f := range Snapshot(t, a) {
		folder := a.Name(canon)
		stored := map[uint32]*archive.Entry{}
		for e, err := range repo.Messages(ctx, archive.Query{Account: account, Folder: folder}) {
			if err != nil {
				t.Fatal(err)
			}
			stored[e.UID] = e
		}
		if len(stored) != len(f.Msgs) {
			t.Errorf("%s %s: archive has %d present messages, server %d", a.Server, folder, len(stored), len(f.Msgs))
		}
		for _, m := range f.Msgs {
			n++
			e := stored[uint32(m.UID)]
			if e == nil {
				t.Errorf("%s %s uid %d: not archived", a.Server, folder, m.UID)
				continue
			}
			raw, err := repo.ReadMessage(ctx, e.Hash)
			if err != nil || string(raw) != string(m.Raw) || e.UIDValidity != f.UIDValidity {
				t.Errorf("%s %s uid %d: archived copy differs from BODY.PEEK[] (%d vs %d bytes, uidvalidity %d vs %d, err %v)",
					a.Server, folder, m.UID, len(raw), len(m.Raw), e.UIDValidity, f.UIDValidity, err)
			}
			if e.Hash.String() != m.Hash() {
				t.Errorf("%s %s uid %d: index hash differs from the served bytes' SHA-256", a.Server, folder, m.UID)
			}
			if got := archive.JoinFlags(e.Flags); got != m.Flags {
				t.Errorf("%s %s uid %d: flags %q, server %q", a.Server, folder, m.UID, got, m.Flags)
			}
			if !e.InternalDate.Equal(m.Date) || e.InternalDate.Format(archive.DateLayout) != m.Date.Format(archive.DateLayout) {
				t.Errorf("%s %s uid %d: INTERNALDATE %s, server %s", a.Server, folder, m.UID,
					e.InternalDate.Format(archive.DateLayout), m.Date.Format(archive.DateLayout))
			}
		}
	}
	return n
}
