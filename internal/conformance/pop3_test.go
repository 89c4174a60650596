package conformance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// TestPOP3: a POP3 backup holds exactly what RETR serves (read here by
// an independent client), as often as the maildrop holds it; a re-run
// fetches nothing; a new message is fetched once; the server keeps all.
func TestPOP3(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv Server) {
		ctx := context.Background()
		a := srv.NewAccount(t)
		if a.POP3Addr == "" {
			t.Skipf("%s offers no POP3", a.Server)
		}
		var raws [][]byte
		for _, m := range sample.Generate(30, 5) {
			raws = append(raws, m.Raw)
		}
		for _, m := range sample.Awkward() {
			raws = append(raws, m.Raw) // the server may refuse some (Cyrus: bare LF, NUL, ...)
		}
		twin := []byte("Subject: twin\r\nMessage-ID: <pop-twin@x>\r\n\r\ntwice in the maildrop\r\n")
		a.AddToMaildrop(t, append(raws, twin, twin)...)

		repo := newRepo(t)
		run := func() *backup.Result {
			res := backup.POP3(ctx, repo, &backup.POP3Account{Name: "pop", Backoff: 10 * time.Millisecond,
				Dial: func(ctx context.Context) (*pop3.Client, error) {
					c, err := pop3.Dial(ctx, a.POP3Addr, &pop3.Options{Security: "none", Timeout: 20 * time.Second})
					if err != nil {
						return nil, err
					}
					if err := c.Auth(ctx, a.User, a.Password, ""); err != nil {
						c.Close()
						return nil, err
					}
					return c, nil
				}}, nil)
			if !res.OK() {
				t.Fatalf("%s: POP3 backup: %v", a.Server, res.Err())
			}
			return res
		}
		check := func() {
			t.Helper()
			served := retrAll(t, a)
			want := map[string]int{}
			for _, raw := range served {
				want[Msg{Raw: raw}.Hash()]++
			}
			got := map[string]int{}
			for e, err := range repo.Messages(ctx, archive.Query{Account: "pop"}) {
				if err != nil {
					t.Fatal(err)
				}
				got[e.Hash.String()]++
				raw, err := repo.ReadMessage(ctx, e.Hash)
				if err != nil || (Msg{Raw: raw}).Hash() != e.Hash.String() {
					t.Errorf("archived %s does not read back: %v", e.Hash, err)
				}
			}
			for h, n := range want {
				if got[h] != n {
					t.Errorf("%s: RETR serves %s %d times, archive holds it %d times", a.Server, h[:12], n, got[h])
				}
			}
			for h, n := range got {
				if want[h] == 0 {
					t.Errorf("%s: archive holds %s (%d times), which RETR does not serve", a.Server, h[:12], n)
				}
			}
			if len(served) < 35 {
				t.Errorf("%s: maildrop holds %d messages, want at least 35", a.Server, len(served))
			}
		}

		run()
		check()
		if res := run(); res.New+res.Seen != 0 {
			t.Errorf("re-run fetched %d new, %d seen; want none", res.New, res.Seen)
		}
		a.AddToMaildrop(t, []byte("Subject: later\r\nMessage-ID: <pop-later@x>\r\n\r\nnew\r\n"))
		if res := run(); res.New != 1 {
			t.Errorf("after one new message: fetched %d new, want 1", res.New)
		}
		check()
	})
}

// retrAll logs in over POP3 with a client of its own (not mailkeep's),
// RETRs every message byte for byte (dot-stuffing undone, nothing else),
// and QUITs without deleting.
func retrAll(t *testing.T, a *Account) [][]byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", a.POP3Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	cmd := func(line string) string {
		t.Helper()
		if line != "" {
			fmt.Fprintf(conn, "%s\r\n", line)
		}
		resp, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(resp, "+OK") {
			t.Fatalf("%s: POP3 %q: %q, %v", a.Server, strings.Fields(line + " ")[0], resp, err)
		}
		return resp
	}
	cmd("")
	cmd("USER " + a.User)
	cmd("PASS " + a.Password)
	var n int
	fmt.Sscanf(cmd("STAT"), "+OK %d", &n)
	var out [][]byte
	for i := 1; i <= n; i++ {
		cmd(fmt.Sprintf("RETR %d", i))
		var msg bytes.Buffer
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				t.Fatalf("%s: RETR %d: %v", a.Server, i, err)
			}
			if string(line) == ".\r\n" {
				break
			}
			if line[0] == '.' {
				line = line[1:] // RFC 1939 3: byte-stuffing
			}
			msg.Write(line)
		}
		out = append(out, msg.Bytes())
	}
	cmd("QUIT")
	return out
}
