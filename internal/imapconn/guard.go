package imapconn

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// guard is the connection as go-imap (and the APPEND client) see it. It
// follows the server's side of the IMAP stream (RFC 3501 4.3: a line that
// ends in {N}, {N+} or ~{N} is followed by N bytes of literal) so that:
//
//   - no line, and no literal other than a message body, grows past
//     maxLine: go-imap keeps whole lines and such literals in memory;
//   - a message body ("* n FETCH (... BODY[] {N}") larger than maxBody is
//     refused before any of it is read, with the message's UID;
//   - timeout bounds each whole response, not each read: a server that
//     trickles one byte at a time is cut off when the response is late.
//     A literal adds one second per literalRate bytes to its response.
//
// The deadline of the next response starts when the last one ended or
// when the client writes, whichever is later. The deadlines go-imap sets
// itself (none while waiting for a response to begin) are ignored.
type guard struct {
	net.Conn
	clock   func() time.Time
	timeout time.Duration
	maxLine int64
	maxBody int64 // 0: no limit

	mu       sync.Mutex
	err      error     // sticky: the first limit or deadline that failed
	inResp   bool      // some of the current response has been read
	deadline time.Time // when the current (or next) response must be complete
	length   int64     // bytes of the response outside message bodies
	head     []byte    // the response's first bytes outside literals
	tail     []byte    // the last bytes of the current line
	lit      int64     // literal bytes still to come
}

// literalRate is the slowest a literal may arrive at, in bytes per second,
// before its response is late.
const literalRate = 64 << 10

// DefaultMaxLine bounds a response line, and the literals in it that are
// not message bodies (a long UID SEARCH answer is the largest legitimate
// one: about 8 bytes a message).
const DefaultMaxLine = 8 << 20

const (
	headKeep = 4 << 10
	tailKeep = 96
)

func newGuard(c net.Conn, o *Options) *guard {
	g := &guard{Conn: c, clock: o.Clock, timeout: o.Timeout, maxLine: o.MaxLine, maxBody: o.MaxMessageSize}
	if g.clock == nil {
		g.clock = time.Now
	}
	if g.maxLine <= 0 {
		g.maxLine = DefaultMaxLine
	}
	return g
}

// realDeadline turns a deadline on the guard's clock into one on the
// system clock (they differ only in tests).
func (g *guard) realDeadline(d time.Time) time.Time {
	return time.Now().Add(d.Sub(g.clock()))
}

func (g *guard) Read(p []byte) (int, error) {
	g.mu.Lock()
	if g.err != nil {
		err := g.err
		g.mu.Unlock()
		return 0, err
	}
	if g.deadline.IsZero() {
		g.deadline = g.clock().Add(g.timeout)
	}
	g.Conn.SetReadDeadline(g.realDeadline(g.deadline))
	g.mu.Unlock()

	n, err := g.Conn.Read(p)

	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	if n > 0 && g.clock().After(g.deadline) {
		g.err = g.late()
		return 0, g.err
	}
	if n > 0 {
		if k, serr := g.scan(p[:n]); serr != nil {
			// What came before the offending response goes through: the
			// messages before a too large one are not lost with it.
			g.err = serr
			if k > 0 {
				return k, nil
			}
			return 0, serr
		}
	}
	if err != nil && isTimeout(err) {
		g.err = g.late()
		return n, g.err
	}
	return n, err
}

func (g *guard) late() error {
	return &Error{Op: "read", Err: fmt.Errorf("no complete response from the server within %s: %w", g.timeout, os.ErrDeadlineExceeded)}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// scan follows the stream over b. When a limit is passed it returns the
// error and how many bytes of b came before the point of failure.
func (g *guard) scan(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		rest := b[done:]
		if g.lit > 0 {
			k := min(g.lit, int64(len(rest)))
			g.lit -= k
			done += int(k)
			continue
		}
		g.inResp = true
		i := bytes.IndexByte(rest, '\n')
		seg := rest
		if i >= 0 {
			seg = rest[:i+1]
		}
		g.length += int64(len(seg))
		if len(g.head) < headKeep {
			g.head = append(g.head, seg[:min(len(seg), headKeep-len(g.head))]...)
		}
		g.tail = append(g.tail, seg...)
		if len(g.tail) > 2*tailKeep {
			g.tail = append(g.tail[:0], g.tail[len(g.tail)-tailKeep:]...)
		}
		if g.length > g.maxLine {
			return done, &LimitError{What: "line", Size: g.length, Limit: g.maxLine}
		}
		done += len(seg)
		if i < 0 {
			continue
		}
		// A line ends here: a literal follows, or the response is done.
		n, body, ok := literalAt(g.tail)
		g.tail = g.tail[:0]
		if !ok {
			g.endResponse()
			continue
		}
		if body {
			if g.maxBody > 0 && n > g.maxBody {
				uid, seq := fetchIDs(g.head)
				return done, &LimitError{What: "message", Size: n, Limit: g.maxBody, UID: uid, Seq: seq}
			}
		} else {
			g.length += n
			if g.length > g.maxLine {
				return done, &LimitError{What: "literal", Size: n, Limit: g.maxLine}
			}
		}
		g.lit = n
		g.deadline = g.deadline.Add(time.Duration(n/literalRate) * time.Second)
	}
	return done, nil
}

func (g *guard) endResponse() {
	g.inResp, g.length, g.head = false, 0, g.head[:0]
	g.deadline = g.clock().Add(g.timeout)
}

// literalAt reads the literal announced at the end of line ("{N}\r\n",
// "{N+}\r\n", "~{N}\r\n"): its size and whether it is a message body
// (BODY[...], BINARY[...] or RFC822... right before it).
func literalAt(line []byte) (n int64, body, ok bool) {
	s := bytes.TrimRight(line, "\r\n")
	if len(s) < 3 || s[len(s)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(s, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := bytes.TrimSuffix(s[open+1:len(s)-1], []byte("+"))
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false, false
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || v < 0 {
		return 0, false, false
	}
	before := bytes.TrimSuffix(s[:open], []byte("~"))
	before = bytes.TrimRight(before, " ")
	switch {
	case bytes.HasSuffix(before, []byte("]")):
		if j := bytes.LastIndexByte(before, '['); j > 0 {
			name := bytes.ToUpper(before[max(0, j-6):j])
			body = bytes.HasSuffix(name, []byte("BODY")) || bytes.HasSuffix(name, []byte("BINARY"))
		}
	default:
		up := bytes.ToUpper(before[max(0, len(before)-13):])
		body = bytes.HasSuffix(up, []byte("RFC822")) || bytes.HasSuffix(up, []byte("RFC822.TEXT")) || bytes.HasSuffix(up, []byte("RFC822.HEADER"))
	}
	return v, body, true
}

// fetchIDs finds the sequence number and UID in the start of a FETCH
// response ("* 12 FETCH (UID 345 ...").
func fetchIDs(head []byte) (uid, seq uint32) {
	f := bytes.Fields(head)
	if len(f) >= 3 && string(f[0]) == "*" && bytes.EqualFold(f[2], []byte("FETCH")) {
		if v, err := strconv.ParseUint(string(f[1]), 10, 32); err == nil {
			seq = uint32(v)
		}
	}
	for i := 3; i+1 < len(f); i++ {
		name := bytes.TrimLeft(f[i], "(")
		if bytes.EqualFold(name, []byte("UID")) {
			if v, err := strconv.ParseUint(string(bytes.TrimRight(f[i+1], ")")), 10, 32); err == nil {
				uid = uint32(v)
				break
			}
		}
	}
	return uid, seq
}

func (g *guard) Write(p []byte) (int, error) {
	g.mu.Lock()
	if !g.inResp && g.lit == 0 {
		// The client speaks: the answer has timeout from now.
		g.deadline = g.clock().Add(g.timeout)
		g.Conn.SetReadDeadline(g.realDeadline(g.deadline))
	}
	t := g.timeout
	g.mu.Unlock()
	g.Conn.SetWriteDeadline(time.Now().Add(t))
	return g.Conn.Write(p)
}

// shorten lowers the timeout (for a LOGOUT on the way out).
func (g *guard) shorten(t time.Duration) {
	g.mu.Lock()
	if t < g.timeout {
		g.timeout = t
		if d := g.clock().Add(t); g.deadline.After(d) {
			g.deadline = d
			g.Conn.SetReadDeadline(g.realDeadline(d))
		}
	}
	g.mu.Unlock()
}

// failure is the limit or deadline that broke the stream, if any.
func (g *guard) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

func (g *guard) SetDeadline(time.Time) error      { return nil }
func (g *guard) SetReadDeadline(time.Time) error  { return nil }
func (g *guard) SetWriteDeadline(time.Time) error { return nil }
