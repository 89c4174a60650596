package pop3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

func TestSecurity(t *testing.T) {
	msg := []byte("Subject: tls\r\n\r\n.dot\r\n")
	tests := []struct {
		name     string
		srv      pop3srv.Options
		security string
		trust    bool
		wantErr  error // nil: success
	}{
		{"implicit tls", pop3srv.Options{ImplicitTLS: true}, "tls", true, nil},
		{"default is implicit tls", pop3srv.Options{ImplicitTLS: true}, "", true, nil},
		{"starttls", pop3srv.Options{STLS: true}, "starttls", true, nil},
		{"starttls not offered", pop3srv.Options{}, "starttls", true, ErrNoSTLS},
		{"starttls without capa", pop3srv.Options{DisableCAPA: true}, "starttls", true, ErrNoSTLS},
		{"untrusted certificate", pop3srv.Options{ImplicitTLS: true}, "tls", false, &tls.CertificateVerificationError{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &tc.srv, msg)
			opts := &Options{Security: tc.security, Timeout: 5 * time.Second}
			if tc.trust {
				opts.TLSConfig = srv.ClientTLSConfig()
			}
			c, err := Dial(context.Background(), srv.Addr(), opts)
			if tc.wantErr != nil {
				var cve *tls.CertificateVerificationError
				if !errors.Is(err, tc.wantErr) && !errors.As(err, &cve) {
					t.Fatalf("Dial() = %v, want %v", err, tc.wantErr)
				}
				if Temporary(err) {
					t.Errorf("Temporary(%v) = true, want false", err)
				}
				for _, cmd := range srv.Commands() {
					if cmd != "CAPA" {
						t.Errorf("server received %q before TLS, want only CAPA", cmd)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial() = %v", err)
			}
			defer c.Close()
			if c.HasCap("STLS") {
				t.Errorf("HasCap(STLS) after TLS = true, want false (CAPA not refreshed)")
			}
			if err := c.Auth(context.Background(), testUser, testPass, ""); err != nil {
				t.Fatalf("Auth() = %v", err)
			}
			var buf bytes.Buffer
			if _, err := c.Retr(context.Background(), 1, &buf); err != nil || !bytes.Equal(buf.Bytes(), msg) {
				t.Fatalf("Retr() = %q, %v, want %q", buf.Bytes(), err, msg)
			}
			if err := c.Quit(context.Background()); err != nil {
				t.Fatalf("Quit() = %v", err)
			}
		})
	}
}

func TestListUIDL(t *testing.T) {
	srv := startServer(t, &pop3srv.Options{Hooks: pop3srv.Hooks{
		Size: func(user string, num int, size int64) int64 {
			if num == 2 {
				return size + 7 // a server counting LF as CRLF
			}
			return size
		},
		UID: func(user string, login, num int, uid string) string {
			if num == 3 && login > 1 {
				return "changed-" + uid
			}
			return uid
		},
	}}, []byte("one\r\n"), []byte("two\n"), []byte("three\r\n"))
	srv.AddMessage(testUser, "uid-1", []byte("duplicate uid\r\n"))
	ctx := context.Background()

	c := login(t, srv, nil)
	count, size, err := c.Stat(ctx)
	if err != nil || count != 4 || size != 5+4+7+7+15 {
		t.Errorf("Stat() = %d, %d, %v, want 4, 38, nil", count, size, err)
	}
	list, err := c.List(ctx)
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	if want := []MsgInfo{{1, 5}, {2, 11}, {3, 7}, {4, 15}}; !equal(list, want) {
		t.Errorf("List() = %v, want %v", list, want)
	}
	var buf bytes.Buffer
	if n, err := c.Retr(ctx, 2, &buf); err != nil || n != 4 {
		t.Errorf("Retr(2) = %d, %v, want 4 bytes (LIST said 11)", n, err)
	}
	if m, err := c.ListOne(ctx, 2); err != nil || m != (MsgInfo{2, 11}) {
		t.Errorf("ListOne(2) = %v, %v, want {2 11}", m, err)
	}
	uids, err := c.UIDL(ctx)
	if err != nil {
		t.Fatalf("UIDL() = %v", err)
	}
	if want := []UIDInfo{{1, "uid-1"}, {2, "uid-2"}, {3, "uid-3"}, {4, "uid-1"}}; !equal(uids, want) {
		t.Errorf("UIDL() = %v, want %v (duplicates kept)", uids, want)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatalf("Quit() = %v", err)
	}

	c = login(t, srv, nil)
	u, err := c.UIDLOne(ctx, 3)
	if err != nil || u != (UIDInfo{3, "changed-uid-3"}) {
		t.Errorf("UIDLOne(3) in the second session = %v, %v, want {3 changed-uid-3}", u, err)
	}
	_, err = c.Retr(ctx, 9, io.Discard)
	var pe *Error
	if !errors.As(err, &pe) || pe.Cmd != "RETR 9" {
		t.Errorf("Retr(9) = %v, want *Error for RETR 9", err)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNoUIDL(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts pop3srv.Options
	}{
		{"capa without uidl", pop3srv.Options{DisableUIDL: true}},
		{"no capa, uidl refused", pop3srv.Options{DisableUIDL: true, DisableCAPA: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &tc.opts, []byte("m\r\n"))
			c := login(t, srv, nil)
			if _, err := c.UIDL(context.Background()); !errors.Is(err, ErrNoUIDL) {
				t.Errorf("UIDL() = %v, want ErrNoUIDL", err)
			}
			if _, err := c.UIDLOne(context.Background(), 1); tc.opts.DisableCAPA == false && !errors.Is(err, ErrNoUIDL) {
				t.Errorf("UIDLOne() = %v, want ErrNoUIDL", err)
			}
			if err := c.Noop(context.Background()); err != nil {
				t.Errorf("Noop() after UIDL = %v", err)
			}
		})
	}
}

func TestDeleOnlyAfterQuit(t *testing.T) {
	srv := startServer(t, nil, []byte("1\r\n"), []byte("2\r\n"), []byte("3\r\n"), []byte("4\r\n"))
	ctx := context.Background()
	remaining := func() string {
		var s []string
		for _, m := range srv.Maildrop(testUser) {
			s = append(s, m.UID)
		}
		return strings.Join(s, ",")
	}

	// Marked, then the connection just closes: nothing is removed.
	c := login(t, srv, nil)
	if err := c.DeleMany(ctx, []int{1, 2}); err != nil {
		t.Fatalf("DeleMany() = %v", err)
	}
	if got := remaining(); got != "uid-1,uid-2,uid-3,uid-4" {
		t.Errorf("maildrop before QUIT = %s, want all four", got)
	}
	c.Close()
	waitUnlocked(t, srv)
	if got := remaining(); got != "uid-1,uid-2,uid-3,uid-4" {
		t.Errorf("maildrop after Close without QUIT = %s, want all four", got)
	}

	// RSET unmarks; DELE of a deleted message is refused.
	c = login(t, srv, nil)
	if err := c.Dele(ctx, 1); err != nil {
		t.Fatalf("Dele(1) = %v", err)
	}
	var pe *Error
	if err := c.Dele(ctx, 1); !errors.As(err, &pe) {
		t.Errorf("second Dele(1) = %v, want *Error", err)
	}
	if err := c.Rset(ctx); err != nil {
		t.Fatalf("Rset() = %v", err)
	}
	err := c.DeleMany(ctx, []int{2, 9, 4})
	if !errors.As(err, &pe) || pe.Cmd != "DELE 9" {
		t.Errorf("DeleMany(2, 9, 4) = %v, want the refusal of DELE 9", err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatalf("Quit() = %v", err)
	}
	if got := remaining(); got != "uid-1,uid-3" {
		t.Errorf("maildrop after QUIT = %s, want uid-1,uid-3", got)
	}
}

// waitUnlocked waits until the server has seen a closed session end.
func waitUnlocked(t *testing.T, srv *pop3srv.Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c := dial(t, srv, nil)
		err := c.Auth(context.Background(), testUser, testPass, "user")
		c.Close()
		if err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("maildrop still locked after 5s")
}

func TestQuitFailure(t *testing.T) {
	srv := startServer(t, &pop3srv.Options{Hooks: pop3srv.Hooks{
		Command: func(c pop3srv.Call) *pop3srv.Fault {
			if c.Verb == "QUIT" {
				return &pop3srv.Fault{Err: "[SYS/TEMP] could not remove messages"}
			}
			return nil
		},
	}}, []byte("m\r\n"))
	c := login(t, srv, nil)
	if err := c.Dele(context.Background(), 1); err != nil {
		t.Fatalf("Dele() = %v", err)
	}
	err := c.Quit(context.Background())
	var pe *Error
	if !errors.Is(err, ErrQuitUnconfirmed) || !errors.As(err, &pe) || pe.Code != "SYS/TEMP" {
		t.Fatalf("Quit() = %v, want ErrQuitUnconfirmed with the server's -ERR", err)
	}
	if got := len(srv.Maildrop(testUser)); got != 1 {
		t.Errorf("messages left = %d, want 1", got)
	}
}

func TestQuitOnBrokenClient(t *testing.T) {
	srv := startServer(t, nil, []byte("m\r\n"))
	c := login(t, srv, nil)
	c.Close()
	if err := c.Quit(context.Background()); !errors.Is(err, ErrQuitUnconfirmed) {
		t.Errorf("Quit() after Close = %v, want ErrQuitUnconfirmed", err)
	}
}

func TestDialOptions(t *testing.T) {
	srv := startServer(t, &pop3srv.Options{APOP: true})
	tests := []struct {
		name string
		opts Options
	}{
		{"unknown security", Options{Security: "ssl"}},
		{"no port", Options{Security: "none"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := srv.Addr()
			if tc.name == "no port" {
				addr = "127.0.0.1"
			}
			if _, err := Dial(context.Background(), addr, &tc.opts); err == nil {
				t.Errorf("Dial(%q, %+v) = nil error", addr, tc.opts)
			}
		})
	}
	c := dial(t, srv, nil)
	if ts := c.APOPTimestamp(); !strings.HasPrefix(ts, "<") || !strings.HasSuffix(ts, ">") {
		t.Errorf("APOPTimestamp() = %q, want <...@...>", ts)
	}
	if !c.HasCap("pipelining") || c.Caps()["IMPLEMENTATION"] == nil {
		t.Errorf("Caps() = %v, want PIPELINING and IMPLEMENTATION", c.Caps())
	}
}

func TestTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"in-use", &Error{Cmd: "PASS", Code: "IN-USE"}, true},
		{"login-delay", &Error{Cmd: "PASS", Code: "LOGIN-DELAY"}, true},
		{"sys/temp", &Error{Cmd: "RETR 1", Code: "SYS/TEMP"}, true},
		{"sys/perm", &Error{Cmd: "RETR 1", Code: "SYS/PERM"}, false},
		{"auth", &Error{Cmd: "PASS", Code: "AUTH"}, false},
		{"plain -ERR", &Error{Cmd: "RETR 1"}, false},
		{"eof", io.ErrUnexpectedEOF, true},
		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, true},
		{"bad chars", ErrBadChars, false},
		{"no stls", ErrNoSTLS, false},
		{"net error", &net.OpError{Op: "read", Err: errors.New("connection reset")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Temporary(tc.err); got != tc.want {
				t.Errorf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	e := newError("RETR 5", "[IN-USE] maildrop locked")
	if got, want := e.Error(), "pop3 RETR 5: server said -ERR [IN-USE] maildrop locked"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if e.Code != "IN-USE" || e.Text != "maildrop locked" {
		t.Errorf("newError() = %+v, want code IN-USE and text", e)
	}
}
