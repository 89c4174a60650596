package dovecot

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// pop3 is just enough of a POP3 client for these tests, on raw lines.
type pop3 struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialPOP3(t *testing.T, addr string) *pop3 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial POP3 %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	p := &pop3{t: t, c: c, r: bufio.NewReader(c)}
	if line := p.line(); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("POP3 greeting = %q", line)
	}
	return p
}

func (p *pop3) line() string {
	p.t.Helper()
	l, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatalf("POP3 read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a command and returns the status line.
func (p *pop3) cmd(format string, args ...any) string {
	p.t.Helper()
	fmt.Fprintf(p.c, format+"\r\n", args...)
	return p.line()
}

// multi reads a multi-line response body, undoing dot-stuffing
// (RFC 1939 3) and keeping every other byte.
func (p *pop3) multi() []byte {
	p.t.Helper()
	var body bytes.Buffer
	for {
		l, err := p.r.ReadBytes('\n')
		if err != nil {
			p.t.Fatalf("POP3 read: %v", err)
		}
		if string(l) == ".\r\n" {
			return body.Bytes()
		}
		body.Write(bytes.TrimPrefix(l, []byte(".")))
	}
}

func TestPOP3(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		{Raw: []byte("Subject: one\n\n.leading dot\n.\n..two dots\n"), Flags: []string{`\Seen`}},
		{Raw: []byte("Subject: two\r\n\r\nnul \x00, long " + strings.Repeat("y", 5000) + "\r\nbare\n")},
	}
	tests := []struct {
		name   string
		opts   *Options
		format string // pop3_uidl_format, as fmt verbs of (uid, uidvalidity)
	}{
		{"default-uidl", nil, "%08x%08x"}, // Dovecot's %X means hex, in lower case
		{"custom-uidl", &Options{POP3UIDLFormat: "%u.%v"}, "%d.%d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *Server
			if tt.opts == nil {
				srv = Shared(t)
			} else {
				srv = Start(t, tt.opts)
			}
			user, pass := srv.NewUser(t)
			srv.Seed(t, user, "INBOX", msgs)
			sel, err := login(t, srv, user, pass).Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				t.Fatalf("EXAMINE INBOX = %v", err)
			}

			p := dialPOP3(t, srv.POP3Addr)
			if got := p.cmd("USER %s", user); !strings.HasPrefix(got, "+OK") {
				t.Fatalf("USER = %q", got)
			}
			if got := p.cmd("PASS %s", pass); !strings.HasPrefix(got, "+OK") {
				t.Fatalf("PASS = %q\n%s", got, srv.Log())
			}
			if got := p.cmd("STAT"); !strings.HasPrefix(got, fmt.Sprintf("+OK %d ", len(msgs))) {
				t.Errorf("STAT = %q, want %d messages", got, len(msgs))
			}
			if got := p.cmd("UIDL"); !strings.HasPrefix(got, "+OK") {
				t.Fatalf("UIDL = %q", got)
			}
			var want strings.Builder
			for i := range msgs {
				fmt.Fprintf(&want, "%d "+tt.format+"\r\n", i+1, i+1, sel.UIDValidity)
			}
			if got := string(p.multi()); got != want.String() {
				t.Errorf("UIDL = %q, want %q", got, want.String())
			}
			for i, m := range msgs {
				if got := p.cmd("RETR %d", i+1); !strings.HasPrefix(got, "+OK") {
					t.Fatalf("RETR %d = %q", i+1, got)
				}
				body := p.multi()
				if got, want := sum(body), sum(ServedPOP3(m.Raw)); got != want {
					t.Errorf("RETR %d sha256 = %s, want ServedPOP3(raw) %s", i+1, got, want)
				}
			}
			if got := p.cmd("QUIT"); !strings.HasPrefix(got, "+OK") {
				t.Errorf("QUIT = %q", got)
			}
		})
	}
}

func TestPOP3WrongPassword(t *testing.T) {
	t.Parallel()
	srv := Shared(t)
	user, _ := srv.NewUser(t)
	p := dialPOP3(t, srv.POP3Addr)
	p.cmd("USER %s", user)
	if got := p.cmd("PASS %s", "not-it"); !strings.HasPrefix(got, "-ERR") {
		t.Errorf("PASS with a wrong password = %q, want -ERR", got)
	}
}
