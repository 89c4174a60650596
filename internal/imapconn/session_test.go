package imapconn_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

// TestSessionReconnects: every way an operation or a reconnect can fail;
// never a nil connection handed to the operation, never a panic.
func TestSessionReconnects(t *testing.T) {
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("u", "p")
	good := func(ctx context.Context) (*imapconn.Conn, error) {
		return imapconn.Dial(ctx, &imapconn.Options{Addr: srv.Addr(), Security: "none", Username: "u", Timeout: 5 * time.Second,
			Secret: func(context.Context) (string, error) { return "p", nil }})
	}
	refused := &imapconn.Error{Op: "connect", Err: syscall.ECONNREFUSED}
	stop := errors.New("the archive failed")
	for _, tc := range []struct {
		name    string
		dials   []error // nil: a good connection; in order, then good ones
		nilConn bool    // the first dial returns neither connection nor error
		op      func(c *imapconn.Conn, run int) error
		retries int
		wantErr string // "" means success
		runs    int
		again   int // reconnects
	}{
		{name: "ok", op: func(*imapconn.Conn, int) error { return nil }, retries: 3, runs: 1},
		{name: "dial fails twice, then works", dials: []error{refused, refused}, op: func(*imapconn.Conn, int) error { return nil },
			retries: 3, runs: 1, again: 2},
		{name: "dial keeps failing", dials: []error{refused, refused, refused, refused, refused}, op: func(*imapconn.Conn, int) error { return nil },
			retries: 2, wantErr: "giving up after 2 reconnects", again: 2},
		{name: "dial refused for good", dials: []error{&imapconn.Error{Op: "login", Err: errors.New("authentication failed"), Permanent: true}},
			op: func(*imapconn.Conn, int) error { return nil }, retries: 3, wantErr: "authentication failed"},
		{name: "dial returns nothing", nilConn: true, op: func(*imapconn.Conn, int) error { return nil }, retries: 3, runs: 1, again: 1},
		{name: "connection drops once", op: func(c *imapconn.Conn, run int) error {
			if run == 1 {
				c.Abort()
				_, err := c.Select("INBOX", nil).Wait()
				return err
			}
			_, err := c.Select("INBOX", nil).Wait()
			return err
		}, retries: 3, runs: 2, again: 1},
		{name: "server says NO: no reconnect", op: func(c *imapconn.Conn, _ int) error {
			_, err := c.Select("No such folder", nil).Wait()
			return err
		}, retries: 3, wantErr: "NONEXISTENT", runs: 1},
		{name: "stop error: no reconnect", op: func(c *imapconn.Conn, _ int) error { return stop }, retries: 3, wantErr: "archive failed", runs: 1},
		{name: "no retries allowed", op: func(c *imapconn.Conn, _ int) error { c.Abort(); return errors.New("EOF") }, retries: 0, wantErr: "EOF", runs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			dial := func(ctx context.Context) (*imapconn.Conn, error) {
				n++
				if n == 1 && tc.nilConn {
					return nil, nil
				}
				if n <= len(tc.dials) && tc.dials[n-1] != nil {
					return nil, tc.dials[n-1]
				}
				return good(ctx)
			}
			var waits []time.Duration
			s := &imapconn.Session{Dial: dial, Retries: tc.retries, Backoff: time.Second,
				Stop:  func(err error) bool { return errors.Is(err, stop) },
				Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
			defer s.Close()
			runs := 0
			err := s.Do(context.Background(), "op", func(c *imapconn.Conn) error {
				if c == nil {
					t.Fatal("operation run without a connection")
				}
				runs++
				return tc.op(c, runs)
			})
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Do() = %v; want %q", err, tc.wantErr)
			}
			if runs != tc.runs || s.Reconnects() != tc.again {
				t.Errorf("%d runs, %d reconnects; want %d, %d", runs, s.Reconnects(), tc.runs, tc.again)
			}
			for i, w := range waits {
				if want := time.Second << i; w != want {
					t.Errorf("wait %d = %s, want %s (doubling)", i, w, want)
				}
			}
		})
	}
}
