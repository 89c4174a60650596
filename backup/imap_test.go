package backup

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
)

func TestIMAPRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *imapsrv.Options
	}{
		{"all-extensions", nil},
		{"no-condstore-no-list-status", &imapsrv.Options{DisableCondStore: true, DisableListStatus: true}},
		{"no-special-use", &imapsrv.Options{DisableSpecialUse: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.opts)
			seed(srv, 60)
			repo := openRepo(t, t.TempDir())
			res := backupOnce(t, repo, srv.Addr())
			if !res.OK() {
				t.Fatalf("IMAP() errors: %v", res.Err())
			}
			if n := compare(t, repo, srv); n < 70 {
				t.Fatalf("compared %d messages, want the whole mailbox", n)
			}
			if res.New == 0 || res.Seen == 0 {
				t.Errorf("Result New=%d Seen=%d; want both > 0 (the sample has duplicates across folders)", res.New, res.Seen)
			}
			// Special use and delimiter are recorded.
			acct, _ := repo.LookupAccount(context.Background(), "acct")
			folders, _ := repo.Folders(context.Background(), acct)
			found := false
			for _, f := range folders {
				if f.Name == "Sent" {
					found = true
					want := `\Sent`
					if tc.opts != nil && tc.opts.DisableSpecialUse {
						want = ""
					}
					if f.SpecialUse != want || f.Delimiter != "/" {
						t.Errorf("folder Sent: special-use %q delimiter %q, want %q and /", f.SpecialUse, f.Delimiter, want)
					}
				}
			}
			if !found {
				t.Errorf("folder Sent not recorded")
			}
			// PEEK: nothing became \Seen on the server.
			for _, m := range srv.Messages(testUser, "INBOX") {
				if m.UID == 1 && strings.Contains(archive.JoinFlags(m.Flags), `\Seen`) {
					t.Errorf("backup set \\Seen on INBOX uid 1")
				}
			}
		})
	}
}

func TestIMAPIncremental(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *imapsrv.Options
	}{
		{"condstore", nil},
		{"flag-sweep", &imapsrv.Options{DisableCondStore: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := newServer(t, tc.opts)
			seed(srv, 40)
			repo := openRepo(t, t.TempDir())
			if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
				t.Fatal(res.Err())
			}
			// Nothing changed: nothing fetched.
			res := backupOnce(t, repo, srv.Addr())
			if !res.OK() || res.New+res.Seen != 0 || res.Flags != 0 || res.Gone != 0 {
				t.Fatalf("re-run = new %d seen %d flags %d gone %d, want all 0 (err %v)", res.New, res.Seen, res.Flags, res.Gone, res.Err())
			}
			// New mail, a flag change, an expunge.
			inbox := srv.Messages(testUser, "INBOX")
			srv.AddMessage(testUser, "INBOX", []byte("Subject: new one\r\n\r\nhello\r\n"), nil, time.Now().Truncate(time.Second))
			srv.SetFlags(testUser, "INBOX", inbox[3].UID, []string{`\Answered`, "$Work"})
			srv.Expunge(testUser, "INBOX", inbox[4].UID)
			res = backupOnce(t, repo, srv.Addr())
			if !res.OK() || res.New != 1 || res.Flags != 1 || res.Gone != 1 {
				t.Fatalf("incremental = new %d flags %d gone %d, want 1, 1, 1 (err %v)", res.New, res.Flags, res.Gone, res.Err())
			}
			compare(t, repo, srv)
			// The expunged message is still archived, marked gone.
			var gone *archive.Entry
			for e, err := range repo.Messages(ctx, archive.Query{Account: "acct", Folder: "INBOX", IncludeGone: true}) {
				if err != nil {
					t.Fatal(err)
				}
				if e.UID == inbox[4].UID {
					gone = e
				}
			}
			if gone == nil || gone.GoneSince.IsZero() || gone.GoneReason != archive.GoneExpunged {
				t.Fatalf("expunged message = %+v, want kept and marked gone (expunged)", gone)
			}
			if raw, err := repo.ReadMessage(ctx, gone.Hash); err != nil || len(raw) != len(inbox[4].Raw) {
				t.Fatalf("expunged message not readable: %v", err)
			}
		})
	}
}

func TestIMAPUIDValidityChange(t *testing.T) {
	srv := newServer(t, nil)
	seed(srv, 20)
	repo := openRepo(t, t.TempDir())
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	before, _ := repo.Totals(context.Background())
	srv.ResetUIDValidity(testUser, "INBOX")
	res := backupOnce(t, repo, srv.Addr())
	if !res.OK() {
		t.Fatal(res.Err())
	}
	after, _ := repo.Totals(context.Background())
	if after.Blobs != before.Blobs || after.PackBytes != before.PackBytes {
		t.Fatalf("after UIDVALIDITY change: %d blobs %d pack bytes, want %d and %d (nothing stored twice)",
			after.Blobs, after.PackBytes, before.Blobs, before.PackBytes)
	}
	if res.Seen == 0 || res.New != 0 {
		t.Fatalf("re-read = new %d seen %d; want 0 new and the folder re-read", res.New, res.Seen)
	}
	compare(t, repo, srv)
}

func TestIMAPFolderRenamed(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, nil)
	seed(srv, 30)
	repo := openRepo(t, t.TempDir())
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	before, _ := repo.Totals(ctx)
	if err := srv.RenameMailbox(testUser, "Lists/dovecot", "Lists/dovecot-old"); err != nil {
		t.Fatal(err)
	}
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	after, _ := repo.Totals(ctx)
	if after.Blobs != before.Blobs {
		t.Fatalf("rename stored %d new blobs, want 0", after.Blobs-before.Blobs)
	}
	acct, _ := repo.LookupAccount(ctx, "acct")
	folders, _ := repo.Folders(ctx, acct)
	var old, renamed *archive.Folder
	for _, f := range folders {
		switch f.Name {
		case "Lists/dovecot":
			old = f
		case "Lists/dovecot-old":
			renamed = f
		}
	}
	if old == nil || old.GoneSince.IsZero() || renamed == nil || !renamed.GoneSince.IsZero() {
		t.Fatalf("after rename: old %+v, new %+v; want old gone, new present", old, renamed)
	}
	compare(t, repo, srv)
}

func TestIMAPBigMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB message")
	}
	srv := newServer(t, nil)
	big := make([]byte, 50<<20)
	copy(big, "Subject: big\r\n\r\n")
	for i := 16; i < len(big); i++ {
		big[i] = "0123456789abcdefghijklmnopqrstuvwxyz\r\n"[i%38]
	}
	srv.AddMessage(testUser, "INBOX", big, nil, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	srv.AddMessage(testUser, "INBOX", []byte("Subject: after\r\n\r\nx\r\n"), nil, time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC))
	repo := openRepo(t, t.TempDir())
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() || res.New != 2 {
		t.Fatalf("IMAP() new %d err %v", res.New, res.Err())
	}
	compare(t, repo, srv)
}

func TestIMAPLoginFailures(t *testing.T) {
	srv := newServer(t, nil)
	tlsSrv := newServer(t, &imapsrv.Options{TLS: true})
	plainOnly := newServer(t, nil) // no STARTTLS offered
	repo := openRepo(t, t.TempDir())
	for _, tc := range []struct {
		name      string
		opts      imapconn.Options
		permanent bool
		want      string
	}{
		{"wrong-password", imapconn.Options{Addr: srv.Addr(), Security: "none", Username: testUser}, true, "authentication failed"},
		{"unreachable", imapconn.Options{Addr: "127.0.0.1:1", Security: "none", Username: testUser}, false, "connect to 127.0.0.1:1"},
		{"tls-untrusted", imapconn.Options{Addr: tlsSrv.Addr(), Security: "tls", Username: testUser}, true, "certificate"},
		{"starttls-not-offered", imapconn.Options{Addr: plainOnly.Addr(), Security: "starttls", Username: testUser}, true, "STARTTLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Timeout = 2 * time.Second
			o.Secret = func(context.Context) (string, error) { return "wrong-" + testPass, nil }
			res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Retries: 1, Backoff: time.Millisecond,
				Dial: func(ctx context.Context) (*imapconn.Conn, error) { oo := o; return imapconn.Dial(ctx, &oo) }}, nil)
			if res.Fatal == nil || !strings.Contains(res.Fatal.Error(), tc.want) {
				t.Fatalf("IMAP().Fatal = %v, want it to mention %q", res.Fatal, tc.want)
			}
			if imapconn.Permanent(res.Fatal) != tc.permanent {
				t.Errorf("Permanent(%v) = %v, want %v", res.Fatal, !tc.permanent, tc.permanent)
			}
			if strings.Contains(res.Fatal.Error(), "wrong-"+testPass) {
				t.Errorf("error leaks the secret: %v", res.Fatal)
			}
		})
	}
	// The trusted certificate works.
	c, err := imapconn.Dial(context.Background(), &imapconn.Options{Addr: tlsSrv.Addr(), Security: "tls", Username: testUser,
		TLSConfig: &tls.Config{RootCAs: tlsSrv.CertPool()}, Secret: func(context.Context) (string, error) { return testPass, nil }})
	if err != nil {
		t.Fatalf("Dial(tls, trusted) = %v", err)
	}
	c.Close()
}

func TestIMAPDryRunWritesNothing(t *testing.T) {
	srv := newServer(t, nil)
	seed(srv, 10)
	repo := openRepo(t, t.TempDir())
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(srv.Addr(), 5*time.Second), DryRun: true}, nil)
	if !res.OK() || res.New < 10 {
		t.Fatalf("dry run = new %d, err %v", res.New, res.Err())
	}
	tot, _ := repo.Totals(context.Background())
	if tot.Blobs != 0 || tot.Places != 0 {
		t.Fatalf("dry run stored %d blobs %d places", tot.Blobs, tot.Places)
	}
}

func TestIMAPFolderFilter(t *testing.T) {
	srv := newServer(t, nil)
	seed(srv, 30)
	repo := openRepo(t, t.TempDir())
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(srv.Addr(), 5*time.Second),
		Include: func(name string, _ rune) bool { return name != "Sent" }}, nil)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	for _, f := range res.Folders {
		if f.Name == "Sent" {
			t.Fatalf("excluded folder Sent was backed up")
		}
	}
	if len(res.Folders) != len(srv.Mailboxes(testUser))-1 {
		t.Fatalf("backed up %d folders, want %d", len(res.Folders), len(srv.Mailboxes(testUser))-1)
	}
}

func TestIMAPCancel(t *testing.T) {
	srv := newServer(t, nil)
	seed(srv, 200)
	dir := t.TempDir()
	repo := openRepo(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	rep := reporterFunc(func(e eventT) {
		if e.Kind == "item" {
			n++
			if n == 50 {
				cancel()
			}
		}
	})
	res := IMAP(ctx, repo, &IMAPAccount{Name: "acct", Dial: dialer(srv.Addr(), 5*time.Second)}, rep)
	if res.Fatal == nil || !errors.Is(res.Fatal, context.Canceled) {
		t.Fatalf("cancelled backup Fatal = %v, want context.Canceled", res.Fatal)
	}
	repo.Commit(context.Background())
	if v, err := repo.Verify(context.Background(), "", nil); err != nil || !v.OK() {
		t.Fatalf("Verify() after cancel = %+v, %v", v, err)
	}
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	compare(t, repo, srv)
}

func TestIMAPDailyBudget(t *testing.T) {
	srv := newServer(t, nil)
	seed(srv, 120)
	repo := openRepo(t, t.TempDir())
	var total int64
	for _, mb := range srv.Mailboxes(testUser) {
		for _, m := range srv.Messages(testUser, mb.Name) {
			total += int64(len(m.Raw))
		}
	}
	// Each day allows a third of the mailbox: three runs (and a bit) do it.
	runs := 0
	for ; runs < 10; runs++ {
		budget := ratelimit.NewBudget(total/3, 0)
		res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(srv.Addr(), 5*time.Second), Budget: budget}, nil)
		if !res.OK() {
			t.Fatalf("run %d: %v", runs, res.Err())
		}
		if res.Budget == "" {
			break
		}
		if res.Bytes > total/3+int64(inFlight)+(1<<20) {
			t.Fatalf("run %d fetched %d bytes with a budget of %d", runs, res.Bytes, total/3)
		}
	}
	if runs < 2 || runs > 5 {
		t.Fatalf("took %d budget-limited runs to finish; want about 3", runs+1)
	}
	compare(t, repo, srv)
}

func TestIMAPBytesPerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("takes seconds by design")
	}
	srv := newServer(t, nil)
	raw := []byte("Subject: rate\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 20000)) // ~360 KB
	srv.AddMessage(testUser, "INBOX", raw, nil, time.Now().Truncate(time.Second))
	repo := openRepo(t, t.TempDir())
	bucket := ratelimit.NewBucket(150_000)
	start := time.Now()
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: func(ctx context.Context) (*imapconn.Conn, error) {
		return imapconn.Dial(ctx, &imapconn.Options{Addr: srv.Addr(), Security: "none", Username: testUser, Timeout: 10 * time.Second,
			Secret:   func(context.Context) (string, error) { return testPass, nil },
			WrapConn: func(c net.Conn) net.Conn { return ratelimit.Conn(c, bucket, nil) }})
	}}, nil)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	// 360 KB at 150 KB/s, less the bucket's initial burst: well over a second.
	if took := time.Since(start); took < 1200*time.Millisecond {
		t.Fatalf("360 KB at 150 KB/s took %s; the limit was not applied", took)
	}
	compare(t, repo, srv)
}
