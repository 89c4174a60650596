package pop3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
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

// faultOn returns hooks that apply f to the first n commands verb num.
func faultOn(verb string, num, n int, f pop3srv.Fault) pop3srv.Options {
	var hits atomic.Int32
	return pop3srv.Options{Hooks: pop3srv.Hooks{Command: func(c pop3srv.Call) *pop3srv.Fault {
		if c.Verb == verb && c.Num == num && hits.Add(1) <= int32(n) {
			return &f
		}
		return nil
	}}}
}

func TestRetrErrorSessionGoesOn(t *testing.T) {
	opts := faultOn("RETR", 2, 1, pop3srv.Fault{Err: "[SYS/TEMP] cannot read message"})
	srv := startServer(t, &opts, []byte("1\r\n"), []byte("2\r\n"), []byte("3\r\n"))
	c := login(t, srv, nil)
	ctx := context.Background()
	_, err := c.Retr(ctx, 2, io.Discard)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "SYS/TEMP" || !Temporary(err) {
		t.Fatalf("Retr(2) = %v, want temporary *Error SYS/TEMP", err)
	}
	var buf bytes.Buffer
	if _, err := c.Retr(ctx, 2, &buf); err != nil || buf.String() != "2\r\n" {
		t.Fatalf("Retr(2) again = %q, %v", buf.String(), err)
	}

	// In a pipeline the refused message reaches fn as an error; the
	// others still arrive.
	opts = faultOn("RETR", 2, 1, pop3srv.Fault{Err: "no such message"})
	srv = startServer(t, &opts, []byte("1\r\n"), []byte("2\r\n"), []byte("3\r\n"))
	c = login(t, srv, nil)
	var got []string
	err = c.RetrMany(ctx, []int{1, 2, 3}, func(num int, r io.Reader, err error) error {
		if err != nil {
			got = append(got, "err")
			return nil
		}
		b, _ := io.ReadAll(r)
		got = append(got, strings.TrimSpace(string(b)))
		return nil
	})
	if err != nil || strings.Join(got, " ") != "1 err 3" {
		t.Errorf("RetrMany() = %v, %v, want [1 err 3], nil", got, err)
	}

	// fn stopping early: its error comes back, the session stays usable.
	stop := errors.New("stop here")
	var seen int
	err = c.RetrMany(ctx, []int{1, 2, 3}, func(num int, r io.Reader, err error) error {
		seen++
		return stop
	})
	if !errors.Is(err, stop) || seen != 1 {
		t.Errorf("RetrMany() with fn failing = %v after %d calls, want stop after 1", err, seen)
	}
	if err := c.Noop(ctx); err != nil {
		t.Errorf("Noop() after RetrMany stopped = %v", err)
	}
}

func TestRetrDropped(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789abcdef\r\n"), 10000)
	for _, tc := range []struct {
		name  string
		after int64
	}{
		{"before reply", 0},
		{"after status line", 12},
		{"mid body", 50000},
		{"before terminator", int64(len("+OK 180000 octets\r\n") + len(msg))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := faultOn("RETR", 1, 1, pop3srv.Fault{Drop: true, AfterBytes: tc.after})
			srv := startServer(t, &opts, msg)
			c := login(t, srv, nil)
			n, err := c.Retr(context.Background(), 1, io.Discard)
			if err == nil {
				t.Fatalf("Retr() = %d bytes, nil; want an error", n)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Retr() = %v, want io.ErrUnexpectedEOF in the chain", err)
			}
			if !Temporary(err) {
				t.Errorf("Temporary(%v) = false, want true", err)
			}
			if err := c.Noop(context.Background()); !errors.Is(err, ErrBroken) {
				t.Errorf("Noop() after a broken RETR = %v, want ErrBroken", err)
			}
		})
	}
}

func TestStallTimesOut(t *testing.T) {
	msg := bytes.Repeat([]byte("x\r\n"), 100000)
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		verb string
		f    pop3srv.Fault
	}{
		{"before greeting", "", pop3srv.Fault{Stall: true}},
		{"before reply", "RETR", pop3srv.Fault{Stall: true}},
		{"within body", "RETR", pop3srv.Fault{Stall: true, AfterBytes: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := faultOn(tc.verb, 1, 1, tc.f)
			if tc.verb == "" {
				opts = faultOn("", 0, 1, tc.f)
			}
			srv := startServer(t, &opts, msg)
			start := time.Now()
			c, err := Dial(context.Background(), srv.Addr(), &Options{Security: "none", Timeout: timeout})
			if err == nil {
				defer c.Close()
				if err = c.Auth(context.Background(), testUser, testPass, "user"); err != nil {
					t.Fatalf("Auth() = %v", err)
				}
				start = time.Now()
				_, err = c.Retr(context.Background(), 1, io.Discard)
			}
			elapsed := time.Since(start)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("call to a stalled server = %v, want a timeout", err)
			}
			if elapsed < timeout || elapsed > timeout+time.Second {
				t.Errorf("timed out after %v, want about %v", elapsed, timeout)
			}
			if !Temporary(err) {
				t.Errorf("Temporary(%v) = false, want true", err)
			}
		})
	}
}

func TestContextCancelUnblocks(t *testing.T) {
	opts := faultOn("RETR", 1, 1, pop3srv.Fault{Stall: true, AfterBytes: 100})
	srv := startServer(t, &opts, bytes.Repeat([]byte("y\r\n"), 1000))
	c := login(t, srv, &Options{Security: "none", Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Retr(ctx, 1, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Retr() after cancel = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Retr() returned %v after cancel, want promptly", d)
	}
	if Temporary(err) {
		t.Errorf("Temporary(%v) = true, want false", err)
	}
	if err := c.Noop(context.Background()); !errors.Is(err, ErrBroken) {
		t.Errorf("Noop() after cancel = %v, want ErrBroken", err)
	}
}

func TestGreetingError(t *testing.T) {
	opts := faultOn("", 0, 1, pop3srv.Fault{Err: "[SYS/TEMP] too busy"})
	srv := startServer(t, &opts)
	_, err := Dial(context.Background(), srv.Addr(), &Options{Security: "none", Timeout: 5 * time.Second})
	var pe *Error
	if !errors.As(err, &pe) || pe.Cmd != "greeting" || pe.Code != "SYS/TEMP" || !Temporary(err) {
		t.Errorf("Dial() = %v, want temporary greeting *Error SYS/TEMP", err)
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
