package imapconn_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

func scripted(t *testing.T) *imapsrv.Scripted {
	t.Helper()
	s, err := imapsrv.StartScripted()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dialScripted(t *testing.T, s *imapsrv.Scripted, o imapconn.Options) *imapconn.Conn {
	t.Helper()
	o.Addr, o.Security, o.Username = s.Addr(), "none", "u"
	o.Secret = func(context.Context) (string, error) { return "p", nil }
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	c, err := imapconn.Dial(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// endless writes prefix, then filler until the client hangs up.
func endless(w *bufio.Writer, prefix string, filler byte) {
	w.WriteString(prefix)
	chunk := bytes.Repeat([]byte{filler}, 64<<10)
	for i := 0; i < (1<<30)/len(chunk); i++ { // at most 1 GiB
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
	w.Flush()
}

// allocated runs fn and returns how many bytes the process allocated
// meanwhile: an upper bound of what it held at any one time.
func allocated(fn func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHostileResponsesAreBounded(t *testing.T) {
	for _, tc := range []struct {
		name, cmd, prefix string
		what              string
	}{
		{"line without CRLF", "LIST", `* LIST () "/" `, "line"},
		{"huge literal in a LIST", "LIST", "* LIST () \"/\" {2000000000}\r\n", "literal"},
		{"huge quoted string", "LIST", `* LIST () "/" "`, "line"},
		{"endless text of a tagged answer", "NOOP", "", "line"},
		{"huge BODY literal", "UID FETCH", "* 1 FETCH (UID 7 BODY[] {1073741824}\r\n", "message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := scripted(t)
			s.SetFolder(&imapsrv.ScriptFolder{Name: "INBOX", UIDValidity: 1, Messages: []imapsrv.ScriptMessage{{UID: 7, Body: []byte("x\r\n")}}})
			s.SetHook(func(w *bufio.Writer, tag, cmd, args string) bool {
				if cmd != tc.cmd {
					return false
				}
				prefix := tc.prefix
				if prefix == "" {
					prefix = tag + " OK "
				}
				endless(w, prefix, 'a')
				return true
			})
			c := dialScripted(t, s, imapconn.Options{MaxMessageSize: 1 << 20})
			var err error
			n := allocated(func() {
				switch tc.cmd {
				case "LIST":
					_, err = c.List("", "*", nil).Collect()
				case "NOOP":
					err = c.Noop().Wait()
				case "UID FETCH":
					if _, err = c.Select("INBOX", nil).Wait(); err == nil {
						_, err = c.Fetch(imap.UIDSetNum(7), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
					}
				}
			})
			err = c.Err(err)
			var le *imapconn.LimitError
			if !errors.As(err, &le) || le.What != tc.what {
				t.Fatalf("error = %v; want a %s limit error", err, tc.what)
			}
			if tc.what == "message" && (le.UID != 7 || !strings.Contains(le.Error(), "max_message_size")) {
				t.Errorf("message limit error %+v: want UID 7 and the config key", le)
			}
			select {
			case <-c.Client.Closed():
			case <-time.After(10 * time.Second):
				t.Errorf("connection still open after the limit")
			}
			t.Logf("%s: %d MiB allocated", tc.name, n>>20)
			if n > 64<<20 {
				t.Errorf("%d MiB allocated while the server sent a huge response; want under 64 MiB", n>>20)
			}
		})
	}
}

// TestMessageLimitWithoutUID: a server that sends the body before the UID
// gets the message named by its sequence number.
func TestMessageLimitWithoutUID(t *testing.T) {
	s := scripted(t)
	s.SetFolder(&imapsrv.ScriptFolder{Name: "INBOX", UIDValidity: 1, Messages: []imapsrv.ScriptMessage{{UID: 7, Body: []byte("x\r\n")}}})
	s.SetHook(func(w *bufio.Writer, tag, cmd, args string) bool {
		if cmd != "UID FETCH" {
			return false
		}
		endless(w, "* 3 FETCH (BODY[] {5000000}\r\n", 'b')
		return true
	})
	c := dialScripted(t, s, imapconn.Options{MaxMessageSize: 1 << 20})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Fetch(imap.UIDSetNum(7), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	var le *imapconn.LimitError
	if err = c.Err(err); !errors.As(err, &le) || le.Seq != 3 || le.UID != 0 || !strings.Contains(le.Error(), "message 3") {
		t.Fatalf("error = %v (%+v); want the limit error naming sequence number 3", err, le)
	}
}

// fakeClock is an injectable clock the trickling server moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// TestTrickleIsLate: a server that sends one byte every two seconds used
// to keep a run alive for ever, since every read came in time. timeout
// bounds the whole response: this one is cut off after a minute.
func TestTrickleIsLate(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	s := scripted(t)
	var sent atomic.Int32
	s.SetHook(func(w *bufio.Writer, tag, cmd, args string) bool {
		if cmd != "NOOP" {
			return false
		}
		line := []byte(tag + " OK " + strings.Repeat("still thinking ", 100) + "\r\n")
		for _, b := range line {
			clock.Advance(2 * time.Second) // the two seconds pass, then the byte comes
			if w.WriteByte(b) != nil || w.Flush() != nil {
				return true
			}
			sent.Add(1)
		}
		return true
	})
	c := dialScripted(t, s, imapconn.Options{Timeout: time.Minute, Clock: clock.Now})
	err := c.Err(c.Noop().Wait())
	if err == nil || !strings.Contains(err.Error(), "no complete response") || !imapconn.Transient(err) {
		t.Fatalf("NOOP answered by a trickle: %v; want a late-response error (transient)", err)
	}
	if sent.Load() == 0 {
		t.Errorf("the server sent nothing")
	}
}

// TestLongResponseInTime: a response that keeps coming at a good rate is
// not late however long it is, and the deadline starts again for the next.
func TestLongResponseInTime(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	s := scripted(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	s.SetFolder(&imapsrv.ScriptFolder{Name: "INBOX", UIDValidity: 1, Messages: []imapsrv.ScriptMessage{{UID: 1, Body: body}, {UID: 2, Body: body}}})
	s.SetHook(func(w *bufio.Writer, tag, cmd, args string) bool {
		if cmd == "SELECT" || cmd == "UID FETCH" {
			clock.Advance(50 * time.Second) // a slow server, each answer nearly late
		}
		return false
	})
	c := dialScripted(t, s, imapconn.Options{Timeout: time.Minute, Clock: clock.Now})
	for i := 0; i < 3; i++ {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(c.Err(err))
		}
	}
	msgs, err := c.Fetch(imap.UIDSetNum(1, 2), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("FETCH = %d messages, %v", len(msgs), c.Err(err))
	}
}
