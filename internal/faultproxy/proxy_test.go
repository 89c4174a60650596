package faultproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

// payloadServer sends payload to every client, then echoes what it reads.
func payloadServer(t *testing.T, payload []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := c.Write(payload); err != nil {
					return
				}
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dialProxy(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readFor reads until the deadline or an error and returns what came.
func readFor(c net.Conn, d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

// waitStats polls until ok holds, for counters updated after a write.
func waitStats(t *testing.T, p *Proxy, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := p.Stats()
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestForwardAndCount(t *testing.T) {
	payload := []byte("* OK hello\r\n")
	p := newProxy(t, payloadServer(t, payload))
	c := dialProxy(t, p)
	if _, err := c.Write([]byte("ping\r\n")); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, payload...), "ping\r\n"...)
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
	s := waitStats(t, p, func(s Stats) bool { return s.ToClient == int64(len(want)) })
	if s.Accepted != 1 || s.Active != 1 || s.ToClient != int64(len(want)) || s.ToServer != 6 || s.Fired != 0 {
		t.Errorf("Stats() = %+v, want 1 accepted, 1 active, %d to client, 6 to server", s, len(want))
	}
	c.Close()
	if s := waitStats(t, p, func(s Stats) bool { return s.Active == 0 }); s.Active != 0 {
		t.Errorf("Stats().Active after the client left = %d, want 0", s.Active)
	}
}

func TestStallAndRelease(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 10000)
	p := newProxy(t, payloadServer(t, payload))
	p.StallAfter(12345)
	c := dialProxy(t, p)

	got, err := readFor(c, 300*time.Millisecond)
	if !isTimeout(err) || len(got) != 12345 {
		t.Fatalf("read while stalled = %d bytes, %v; want 12345 and a timeout", len(got), err)
	}
	if s := p.Stats(); s.Stalled != 1 || s.Fired != 1 {
		t.Errorf("Stats() while stalled = %+v, want 1 stalled, 1 fired", s)
	}
	p.Release()
	rest := make([]byte, len(payload)-len(got))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatalf("read after Release() = %v", err)
	}
	if !bytes.Equal(append(got, rest...), payload) {
		t.Errorf("bytes after Release() differ from what the server sent")
	}
	// The fault stays armed for new connections until Clear.
	c2 := dialProxy(t, p)
	if got, err := readFor(c2, 300*time.Millisecond); len(got) != 12345 || !isTimeout(err) {
		t.Errorf("new connection after Release() read %d bytes, %v; want 12345 and a timeout", len(got), err)
	}
	p.Clear()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c2, make([]byte, len(payload)-12345)); err != nil {
		t.Errorf("read after Clear() = %v", err)
	}
}

func TestFaults(t *testing.T) {
	payload := bytes.Repeat([]byte("abcdefghij"), 1000)
	tests := []struct {
		name      string
		fault     Fault
		wantBytes int
		wantEOF   bool // else a timeout
	}{
		{"drop after 0", Fault{Action: Drop}, 0, true},
		{"drop mid-stream", Fault{Action: Drop, After: 4321}, 4321, true},
		{"drop past the end", Fault{Action: Drop, After: 1 << 20}, len(payload), false},
		{"stall before anything", Fault{Action: Stall}, 0, false},
		{"stall mid-stream", Fault{Action: Stall, After: 999}, 999, false},
		{"count exhausted", Fault{Action: Drop, After: 10, Count: 1}, len(payload), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, payloadServer(t, payload))
			if err := p.Set(tc.fault); err != nil {
				t.Fatalf("Set() = %v", err)
			}
			if tc.fault.Count == 1 { // use the one drop up
				c := dialProxy(t, p)
				readFor(c, time.Second)
			}
			c := dialProxy(t, p)
			got, err := readFor(c, 300*time.Millisecond)
			if len(got) != tc.wantBytes {
				t.Errorf("read %d bytes, want %d", len(got), tc.wantBytes)
			}
			if tc.wantEOF && !errors.Is(err, io.EOF) && !isConnReset(err) {
				t.Errorf("read error = %v, want EOF", err)
			}
			if !tc.wantEOF && !isTimeout(err) {
				t.Errorf("read error = %v, want a timeout", err)
			}
		})
	}
}

func isConnReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "reset")
}

func TestSetErrors(t *testing.T) {
	p := newProxy(t, "127.0.0.1:1")
	tests := []struct {
		name string
		f    Fault
	}{
		{"no action", Fault{}},
		{"inject to server", Fault{Action: Inject, Direction: ClientToServer, Line: "x"}},
		{"negative", Fault{Action: Drop, After: -1}},
	}
	for _, tc := range tests {
		if err := p.Set(tc.f); err == nil {
			t.Errorf("Set(%s) = nil, want an error", tc.name)
		}
	}
}

func TestDropClientToServer(t *testing.T) {
	p := newProxy(t, payloadServer(t, []byte("hi\r\n")))
	p.Set(Fault{Action: Drop, Direction: ClientToServer, After: 3})
	c := dialProxy(t, p)
	c.Write([]byte("abcdef"))
	got, err := readFor(c, 2*time.Second)
	if err == nil || isTimeout(err) {
		t.Errorf("read after a client-to-server drop = %q, %v; want the connection closed", got, err)
	}
	if s := p.Stats(); s.ToServer != 3 {
		t.Errorf("Stats().ToServer = %d, want 3", s.ToServer)
	}
}

func TestRefuse(t *testing.T) {
	p := newProxy(t, payloadServer(t, []byte("hi\r\n")))
	p.Refuse(true)
	c := dialProxy(t, p)
	if got, err := readFor(c, 2*time.Second); len(got) != 0 || isTimeout(err) {
		t.Errorf("read from a refused connection = %q, %v; want it closed", got, err)
	}
	p.Refuse(false)
	c2 := dialProxy(t, p)
	if got, _ := readFor(c2, 200*time.Millisecond); string(got) != "hi\r\n" {
		t.Errorf("read after Refuse(false) = %q, want hi", got)
	}
	if s := p.Stats(); s.Accepted != 2 || s.Refused != 1 {
		t.Errorf("Stats() = %+v, want 2 accepted, 1 refused", s)
	}
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []int // offsets right after each untagged response
	}{
		{"lines", "* OK hi\r\nA1 OK done\r\n* 2 EXISTS\r\n", []int{9, 33}},
		{"literal with star lines", "* 1 FETCH (BODY[] {12}\r\n* X\r\n* Y\r\n\r\n)\r\n* 3 EXISTS\r\n", []int{39, 51}},
		{"zero literal", "* 1 FETCH (BODY[] {0}\r\n)\r\n", []int{26}},
		{"tagged with literal-looking text", "A1 OK {3}\r\nabc\r\n* OK\r\n", []int{22}},
		{"bare LF", "* OK\n* NO\n", []int{5, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, 3, 1000} {
				var sc scanner
				var got []int
				s := []byte(tc.stream)
				base := 0
				for len(s) > 0 {
					piece := s[:min(chunk, len(s))]
					for len(piece) > 0 {
						k := sc.untaggedEnd(piece)
						if k < 0 {
							base += len(piece)
							s = s[len(piece):]
							break
						}
						got = append(got, base+k)
						base += k
						s = s[k:]
						piece = piece[k:]
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("untaggedEnd in chunks of %d = %v, want %v", chunk, got, tc.want)
				}
			}
		})
	}
}

// imapSetup starts an imapsrv with messages whose bodies hold "* " lines
// and a proxy in front of it.
func imapSetup(t *testing.T) (*imapsrv.Server, *Proxy) {
	t.Helper()
	srv := imapsrv.New(nil)
	srv.AddUser("u", "p")
	for i := range 3 {
		srv.AddMessage("u", "INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\n* 9 EXISTS\r\n* BYE in a body\r\n", i)), nil, time.Time{})
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, newProxy(t, srv.Addr())
}

func TestInjectClosesGoIMAP(t *testing.T) {
	_, p := imapSetup(t)
	c, err := imapclient.DialInsecure(p.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("u", "p").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	p.InjectAfter(0, "* XUNKNOWN foo")
	fc := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	for msg := fc.Next(); msg != nil; msg = fc.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if b, ok := item.(imapclient.FetchItemDataBodySection); ok {
				io.Copy(io.Discard, b.Literal)
			}
		}
	}
	err = fc.Close()
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatalf("go-imap client still open after an unknown untagged response (Fetch().Close() = %v)", err)
	}
	if err == nil {
		t.Errorf("Fetch().Close() = nil, want an error")
	}
	if s := p.Stats(); s.InjectedLines != 1 {
		t.Errorf("Stats().InjectedLines = %d, want 1", s.InjectedLines)
	}
}

// TestInjectPlacement checks the injected line lands between responses,
// never inside a literal, by comparing with an unfaulted run.
func TestInjectPlacement(t *testing.T) {
	_, p := imapSetup(t)
	run := func(inject bool) string {
		c := dialProxy(t, p)
		r := bufio.NewReader(c)
		var out strings.Builder
		cmd := func(line, tag string) {
			io.WriteString(c, line)
			for {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				l, err := r.ReadString('\n')
				out.WriteString(l)
				if err != nil {
					t.Fatalf("reading: %v", err)
				}
				if n, ok := literalSize([]byte(l)); ok {
					lit := make([]byte, n)
					io.ReadFull(r, lit)
					out.Write(lit)
				}
				if strings.HasPrefix(l, tag+" ") {
					return
				}
			}
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		greeting, _ := r.ReadString('\n')
		out.WriteString(greeting)
		cmd("a LOGIN u p\r\n", "a")
		cmd("b SELECT INBOX\r\n", "b")
		if inject {
			p.InjectAfter(5, "* XUNKNOWN foo") // inside the first FETCH response
		}
		cmd("c FETCH 1:3 (BODY.PEEK[])\r\n", "c")
		p.Clear()
		return out.String()
	}
	plain, injected := run(false), run(true)
	i := strings.Index(injected, "* XUNKNOWN foo\r\n")
	if i < 0 {
		t.Fatalf("no injected line in %q", injected)
	}
	without := injected[:i] + injected[i+len("* XUNKNOWN foo\r\n"):]
	if without != plain {
		t.Errorf("stream with the injection removed = %q, want %q", without, plain)
	}
	if !strings.HasPrefix(injected[i:], "* XUNKNOWN foo\r\n* 2 FETCH") {
		t.Errorf("injected line at %q, want right before * 2 FETCH", injected[i:min(len(injected), i+40)])
	}
}

// TestDropMidFetch drops the connection inside a message literal; go-imap
// reports it and a new connection (Count 1) fetches everything.
func TestDropMidFetch(t *testing.T) {
	srv, p := imapSetup(t)
	big := bytes.Repeat([]byte("line of a big message\r\n"), 50000)
	srv.AddMessage("u", "INBOX", big, nil, time.Time{})
	login := func() *imapclient.Client {
		c, err := imapclient.DialInsecure(p.Addr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("u", "p").Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// fetchAll streams every body. A dropped connection ends a literal
	// with a plain io.EOF, so only the size tells a short body. After one
	// it closes the client and waits for its reader before touching the
	// command again: go-imap's Next and Close re-read a broken literal,
	// racing with the reader goroutine.
	fetchAll := func(c *imapclient.Client) (int64, error) {
		var n int64
		fc := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		for msg := fc.Next(); msg != nil; msg = fc.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				b, ok := item.(imapclient.FetchItemDataBodySection)
				if !ok {
					continue
				}
				k, err := io.Copy(io.Discard, b.Literal)
				n += k
				if err == nil && k != b.Literal.Size() {
					err = io.ErrUnexpectedEOF
				}
				if err != nil {
					c.Close()
					select {
					case <-c.Closed():
					case <-time.After(5 * time.Second):
						t.Fatalf("client reader still running after Close()")
					}
					fc.Close()
					return n, err
				}
			}
		}
		return n, fc.Close()
	}
	c := login()
	defer c.Close()
	p.Set(Fault{Action: Drop, After: 100000, Count: 1})
	if _, err := fetchAll(c); err == nil {
		t.Errorf("Fetch() through a dropped connection = nil error, want one")
	}
	c2 := login()
	defer c2.Close()
	n, err := fetchAll(c2)
	if err != nil || n < int64(len(big)) {
		t.Errorf("Fetch() after reconnecting = %d bytes, %v; want at least %d", n, err, len(big))
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	target := payloadServer(t, bytes.Repeat([]byte("x"), 100000))
	before := runtime.NumGoroutine()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	p.StallAfter(10)
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitStats(t, p, func(s Stats) bool { return s.Stalled == 3 })
	if err := p.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines after Close() = %d, want %d\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Errorf("Dial() after Close() = nil, want an error")
	}
}
