package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/pop3srv"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// TestMigrateFromPOP3: a POP3 maildrop goes into the target's INBOX, dated
// by its Date: headers; the source keeps every message; a re-run copies
// nothing and new mail on the POP3 server comes over on the next run.
func TestMigrateFromPOP3(t *testing.T) {
	srv, err := pop3srv.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("p", "pw")
	date := time.Date(2019, 4, 5, 6, 7, 8, 0, time.FixedZone("", 2*3600))
	msg := func(i int) []byte {
		return []byte(fmt.Sprintf("Date: %s\r\nMessage-ID: <pop%d@x>\r\nSubject: pop %d\r\n\r\nbody %d\r\n", date.Add(time.Duration(i)*time.Hour).Format(time.RFC1123Z), i, i, i))
	}
	for i := 0; i < 12; i++ {
		srv.AddMessage("p", fmt.Sprintf("uidl-%d", i), msg(i))
	}
	srv.AddMessage("p", "uidl-twin", msg(3)) // the same bytes twice in the maildrop
	dial := func(ctx context.Context) (*pop3.Client, error) {
		c, err := pop3.Dial(ctx, srv.Addr(), &pop3.Options{Security: "none", Timeout: 10 * time.Second})
		if err != nil {
			return nil, err
		}
		if err := c.Auth(ctx, "p", "pw", ""); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	repo := newRepo(t)
	run := func(repo *archive.Repo, rep progress.Reporter) Backup {
		return func(ctx context.Context) *backup.Result {
			return backup.POP3(ctx, repo, &backup.POP3Account{Name: "isp", Dial: dial}, rep)
		}
	}
	_, ta := inproc(t, "new", nil)
	ctx := context.Background()
	r := Migrate(ctx, repo, ta.target(), &Options{Source: "isp"}, run(repo, nil), nil)
	checkResult(t, r, 13, 0)
	check := func(n int) {
		t.Helper()
		d := snapshot(t, ta)["INBOX"]
		if len(d) != n {
			t.Fatalf("target INBOX has %d messages, want %d", len(d), n)
		}
		want := map[string]int{}
		for _, m := range srv.Maildrop("p") {
			sum := sha256.Sum256(pop3srv.ClientBytes(m.Data))
			want[hex.EncodeToString(sum[:])]++
		}
		for _, m := range d {
			if want[m.hash] == 0 {
				t.Errorf("target message %v is not in the maildrop (or there more often)", m)
			}
			want[m.hash]--
			if m.date.Before(date) || m.date.After(date.Add(20*time.Hour)) {
				t.Errorf("INTERNALDATE %v not taken from the Date: header", m.date)
			}
		}
	}
	check(13)
	if n := len(srv.Maildrop("p")); n != 13 {
		t.Errorf("the POP3 maildrop has %d messages after the migration, want all 13", n)
	}
	r = Migrate(ctx, repo, ta.target(), &Options{Source: "isp"}, run(repo, nil), nil)
	checkResult(t, r, 0, 0)
	srv.AddMessage("p", "uidl-new", msg(20))
	r = Migrate(ctx, repo, ta.target(), &Options{Source: "isp"}, run(repo, nil), nil)
	checkResult(t, r, 1, 0)
	check(14)
}
