package imapsrv

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// xoauth2Client is the XOAUTH2 client go-sasl lacks.
type xoauth2Client struct{ user, token string }

func (x xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x xoauth2Client) Next([]byte) ([]byte, error) { return []byte{}, nil }

func TestAuth(t *testing.T) {
	srv := startServer(t, nil)
	if err := srv.SetToken(testUser, "tok-123"); err != nil {
		t.Fatalf("SetToken() = %v", err)
	}
	tests := []struct {
		name  string
		login func(c *imapclient.Client) error
		ok    bool
	}{
		{"LOGIN", func(c *imapclient.Client) error { return c.Login(testUser, testPass).Wait() }, true},
		{"LOGIN wrong password", func(c *imapclient.Client) error { return c.Login(testUser, "nope").Wait() }, false},
		{"LOGIN unknown user", func(c *imapclient.Client) error { return c.Login("bob", testPass).Wait() }, false},
		{"PLAIN", func(c *imapclient.Client) error {
			return c.Authenticate(sasl.NewPlainClient("", testUser, testPass))
		}, true},
		{"PLAIN wrong password", func(c *imapclient.Client) error {
			return c.Authenticate(sasl.NewPlainClient("", testUser, "nope"))
		}, false},
		{"LOGIN mechanism", func(c *imapclient.Client) error {
			return c.Authenticate(sasl.NewLoginClient(testUser, testPass))
		}, true},
		{"XOAUTH2", func(c *imapclient.Client) error {
			return c.Authenticate(xoauth2Client{testUser, "tok-123"})
		}, true},
		{"XOAUTH2 wrong token", func(c *imapclient.Client) error {
			return c.Authenticate(xoauth2Client{testUser, "tok-999"})
		}, false},
		{"OAUTHBEARER", func(c *imapclient.Client) error {
			return c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: testUser, Token: "tok-123"}))
		}, true},
		{"OAUTHBEARER wrong token", func(c *imapclient.Client) error {
			return c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: testUser, Token: "bad"}))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := imapclient.DialInsecure(srv.Addr(), nil)
			if err != nil {
				t.Fatalf("DialInsecure() = %v", err)
			}
			defer c.Close()
			err = tc.login(c)
			if tc.ok && err != nil {
				t.Fatalf("login = %v, want success", err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatalf("login = nil, want an error")
				}
				var ie *imap.Error
				if errors.As(err, &ie) && ie.Code == imap.ResponseCodeServerBug {
					t.Errorf("login = %v, want a plain authentication failure", err)
				}
				return
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Errorf("Select() after login = %v", err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		dial func(addr string, o *imapclient.Options) (*imapclient.Client, error)
	}{
		{"implicit TLS", Options{TLS: true}, imapclient.DialTLS},
		{"STARTTLS", Options{StartTLS: true}, imapclient.DialStartTLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &tc.opts)
			srv.AddMessage(testUser, "INBOX", []byte("Subject: tls\r\n\r\n"), nil, zeroTime)
			c, err := tc.dial(srv.Addr(), &imapclient.Options{TLSConfig: srv.ClientTLSConfig()})
			if err != nil {
				t.Fatalf("dial = %v", err)
			}
			defer c.Close()
			if err := c.Login(testUser, testPass).Wait(); err != nil {
				t.Fatalf("Login() = %v", err)
			}
			if c.Caps().Has(imap.CapStartTLS) {
				t.Errorf("Caps() after TLS = %v, want no STARTTLS", c.Caps())
			}
			if !c.Caps().Has(imap.CapCondStore) {
				t.Errorf("Caps() after TLS = %v, want CONDSTORE", c.Caps())
			}
			if d, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait(); err != nil || d.HighestModSeq == 0 {
				t.Errorf("Select(CONDSTORE) over TLS = %+v, %v", d, err)
			}
			if got := fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}); len(got) != 1 || string(got[0].bodies["BODY[]"]) != "Subject: tls\r\n\r\n" {
				t.Errorf("FETCH over TLS = %v", got)
			}
		})
	}

	t.Run("untrusted certificate", func(t *testing.T) {
		srv := startServer(t, &Options{TLS: true})
		c, err := imapclient.DialTLS(srv.Addr(), &imapclient.Options{TLSConfig: &tls.Config{}})
		if err == nil {
			err = c.Login(testUser, testPass).Wait()
			c.Close()
		}
		if err == nil {
			t.Errorf("DialTLS() without the server's CA = nil, want a certificate error")
		}
	})

	t.Run("STARTTLS offered before login only", func(t *testing.T) {
		srv := startServer(t, &Options{StartTLS: true})
		c, err := imapclient.DialInsecure(srv.Addr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		caps, err := c.Capability().Wait()
		if err != nil || !caps.Has(imap.CapStartTLS) {
			t.Errorf("Capability() = %v, %v; want STARTTLS", caps, err)
		}
	})
}

// TestStartTLSDropsPipelined checks that commands sent with STARTTLS,
// before the handshake, are not run (the STARTTLS injection attack).
func TestStartTLSDropsPipelined(t *testing.T) {
	srv := startServer(t, &Options{StartTLS: true})
	rc := dialRaw(t, srv, false)
	io.WriteString(rc.conn, "a LOGIN "+testUser+" "+testPass+"\r\nb STARTTLS\r\nc CREATE Injected\r\n")
	rc.until("a")
	if got := rc.until("b"); !strings.HasPrefix(got[len(got)-1], "b OK") {
		t.Fatalf("STARTTLS = %q, want OK", got)
	}
	tc := tls.Client(rc.conn, &tls.Config{RootCAs: srv.CertPool(), ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("Handshake() = %v", err)
	}
	tr := bufio.NewReader(tc)
	io.WriteString(tc, "d NOOP\r\n")
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := tr.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "d OK") {
		t.Errorf("NOOP after STARTTLS = %q, %v; want d OK", line, err)
	}
	for _, mb := range srv.Mailboxes(testUser) {
		if mb.Name == "Injected" {
			t.Errorf("a command pipelined after STARTTLS ran")
		}
	}
}

func TestTrace(t *testing.T) {
	var buf syncBuffer
	srv := startServer(t, &Options{Trace: &buf, StartTLS: true})
	dial(t, srv, nil).Logout().Wait()
	got := buf.String()
	for _, want := range []string{`LOGIN "alice" "s3cret"`, "CONDSTORE STARTTLS", "T2 LOGOUT"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace = %q, want %q in it", got, want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
