package backup

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/faultproxy"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// faultSetup is a server with enough mail for a fault to land mid-FETCH,
// behind a fault proxy.
func faultSetup(t *testing.T) (*imapsrv.Server, *faultproxy.Proxy) {
	t.Helper()
	srv := newServer(t, nil)
	seed(srv, 200)
	p, err := faultproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return srv, p
}

func TestIMAPServerFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faultproxy.Fault
	}{
		{"stall-mid-fetch", faultproxy.Fault{Action: faultproxy.Stall, After: 300_000, Count: 1}},
		{"drop-mid-message", faultproxy.Fault{Action: faultproxy.Drop, After: 250_001, Count: 2}},
		{"unknown-untagged-response", faultproxy.Fault{Action: faultproxy.Inject, After: 200_000, Line: "* XUNKNOWN something", Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, p := faultSetup(t)
			if err := p.Set(tc.fault); err != nil {
				t.Fatal(err)
			}
			repo := openRepo(t, t.TempDir())
			var retries []string
			rep := reporterFunc(func(e progress.Event) {
				if e.Kind == progress.Retry {
					retries = append(retries, e.Text)
				}
			})
			res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(p.Addr(), 500*time.Millisecond),
				Backoff: 10 * time.Millisecond}, rep)
			if !res.OK() {
				t.Fatalf("backup through %s failed: %v", tc.name, res.Err())
			}
			if p.Stats().Fired == 0 || len(retries) == 0 {
				t.Fatalf("fault fired %d times, %d reconnects; want the fault to have hit the backup", p.Stats().Fired, len(retries))
			}
			// Resumed, not restarted: no message fetched twice after the
			// checkpoint... and none missing.
			compare(t, repo, srv)
			if v, err := repo.Verify(context.Background(), "", nil); err != nil || !v.OK() {
				t.Fatalf("Verify() = %+v, %v", v, err)
			}
		})
	}
}

func TestIMAPServerNeverAnswers(t *testing.T) {
	_, p := faultSetup(t)
	p.Set(faultproxy.Fault{Action: faultproxy.Stall, After: 0}) // every connection, from the greeting on
	repo := openRepo(t, t.TempDir())
	start := time.Now()
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(p.Addr(), 300*time.Millisecond),
		Retries: 2, Backoff: 10 * time.Millisecond}, nil)
	if res.Fatal == nil {
		t.Fatalf("backup against a silent server succeeded")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("gave up after %s; want a bounded wait", took)
	}
	if !strings.Contains(res.Fatal.Error(), "timeout") {
		t.Errorf("error %q does not say it timed out", res.Fatal)
	}
}

func TestIMAPListIncomplete(t *testing.T) {
	srv, p := faultSetup(t)
	repo := openRepo(t, t.TempDir())
	if res := backupOnce(t, repo, p.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	// Measure the bytes a session receives before LIST (greeting,
	// capabilities, login), so the injection lands among the LIST lines.
	s0 := p.Stats().ToClient
	c, err := dialer(p.Addr(), time.Second)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	login := p.Stats().ToClient - s0
	c.Close()
	// A raw 8-bit mailbox name (as some servers send) stops go-imap's LIST
	// there (LIBRARIES.md): the rest of the list is lost.
	p.Set(faultproxy.Fault{Action: faultproxy.Inject, After: login, Line: "* LIST () \"/\" \"caf\xe9\"", Count: 1})
	res := backupOnce(t, repo, p.Addr())
	if res.Incomplete == "" || res.OK() {
		t.Fatalf("backup with a broken LIST: Incomplete=%q OK=%v; want the list reported incomplete", res.Incomplete, res.OK())
	}
	if p.Stats().Fired != 1 {
		t.Fatalf("injection fired %d times", p.Stats().Fired)
	}
	// No folder was marked gone because of the missing entries.
	acct, _ := repo.LookupAccount(context.Background(), "acct")
	folders, _ := repo.Folders(context.Background(), acct)
	for _, f := range folders {
		if !f.GoneSince.IsZero() {
			t.Errorf("folder %s marked gone after an incomplete LIST", f.Name)
		}
	}
	if n := len(srv.Mailboxes(testUser)); len(folders) != n {
		t.Errorf("archive has %d folders, server %d", len(folders), n)
	}
}

func TestIMAPMailArrivingDuringBackup(t *testing.T) {
	srv := newServer(t, nil)
	seed(srv, 100)
	repo := openRepo(t, t.TempDir())
	added := false
	rep := reporterFunc(func(e progress.Event) {
		if e.Kind == progress.Item && !added {
			added = true
			for _, m := range sample.Generate(5, 42) {
				srv.AddMessage(testUser, "INBOX", m.Raw, m.Flags, m.Date)
			}
		}
	})
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(srv.Addr(), 5*time.Second)}, rep)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	// Whatever arrived mid-run is fetched now or on the next run; never lost.
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	compare(t, repo, srv)
}
