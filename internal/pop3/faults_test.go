package pop3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

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
