package imapsrv

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// wireConn sits between the socket and go-imap's imapserver, which has no
// hook for STARTTLS below it, for CONDSTORE (RFC 7162) or for a too large
// non-synchronizing APPEND. It reads commands and responses line by line,
// passes literals through untouched and rewrites a few lines:
//
//   - STARTTLS is answered here and TLS put under the imapserver, which
//     never knows it happened;
//   - SELECT/EXAMINE lose "(CONDSTORE)"; "* OK [HIGHESTMODSEQ n]" is added
//     before their tagged OK;
//   - FETCH loses "(CHANGEDSINCE n)" and the MODSEQ item, which travel to
//     the session as marker header-field sections; the session answers
//     MODSEQ as "BINARY.SIZE[0] n", turned back into "MODSEQ (n)" here;
//   - STATUS HIGHESTMODSEQ travels as DELETED-STORAGE both ways;
//   - capability lists gain CONDSTORE and STARTTLS.
type wireConn struct {
	srv *Server

	tmu       sync.Mutex // guards transport and isTLS
	transport net.Conn
	isTLS     bool

	closeOnce sync.Once
	endOnce   sync.Once

	// Read side, used only by the imapserver's connection goroutine.
	rbuf       []byte   // bytes read from the transport, not yet processed
	out        []byte   // processed bytes for the imapserver
	line       []byte   // command line being assembled
	inLit      int64    // literal bytes still to pass through
	syncLit    int64    // size of a synchronizing literal announced, or -1
	dropLit    int64    // literal bytes still to swallow (refused literal)
	dropLine   bool     // swallow up to the next LF
	longLine   bool     // passing an over-long line through unparsed
	inCmd      string   // command name while a command spans literals
	startTLS   string   // tag of a STARTTLS to answer once out is drained
	answer     []byte   // a response of the wire layer's own (acl.go), sent once out is drained
	sess       *session // the imapserver session on this connection
	readBuffer [32 * 1024]byte

	// Write side, serialised by wmu.
	wmu      sync.Mutex
	wline    []byte
	wLit     int64
	wCont    bool // the next segment continues a response after a literal
	enablePn atomic.Bool
	contSent atomic.Bool // a "+" went out since the last literal announced

	condStore atomic.Bool   // the client enabled CONDSTORE
	selModSeq atomic.Uint64 // HIGHESTMODSEQ of the last SELECT/EXAMINE
}

const maxLine = 64 * 1024

func newWireConn(s *Server, transport net.Conn, isTLS bool) *wireConn {
	return &wireConn{srv: s, transport: transport, isTLS: isTLS, syncLit: -1}
}

func (c *wireConn) conn() net.Conn {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return c.transport
}

func (c *wireConn) tlsDone() bool {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return c.isTLS
}

func (c *wireConn) condStoreOn() bool { return !c.srv.opts.DisableCondStore }

// Read gives the imapserver the client's bytes, rewritten.
func (c *wireConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.startTLS != "" {
			if err := c.upgrade(); err != nil {
				return 0, err
			}
			continue
		}
		if c.answer != nil {
			if err := c.flushAnswer(); err != nil {
				return 0, err
			}
			continue
		}
		// Large literals (APPEND) go straight through.
		if len(c.rbuf) == 0 && c.inLit > 0 {
			n := len(p)
			if int64(n) > c.inLit {
				n = int(c.inLit)
			}
			n, err := c.conn().Read(p[:n])
			c.inLit -= int64(n)
			c.traced(p[:n])
			return n, err
		}
		if len(c.rbuf) == 0 {
			n, err := c.conn().Read(c.readBuffer[:])
			if n == 0 && err != nil {
				return 0, err
			}
			c.traced(c.readBuffer[:n])
			c.rbuf = c.readBuffer[:n]
		}
		c.processInput()
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// processInput moves bytes from rbuf to out, one line or literal at a time.
func (c *wireConn) processInput() {
	for len(c.rbuf) > 0 && c.startTLS == "" && c.answer == nil {
		switch {
		case c.inLit > 0:
			n := min(int64(len(c.rbuf)), c.inLit)
			c.out = append(c.out, c.rbuf[:n]...)
			c.rbuf = c.rbuf[n:]
			c.inLit -= n
			continue
		case c.dropLit > 0:
			n := min(int64(len(c.rbuf)), c.dropLit)
			c.rbuf = c.rbuf[n:]
			c.dropLit -= n
			continue
		case c.syncLit >= 0:
			// The client sends a synchronizing literal only after a "+";
			// without one the server refused and this is a new command.
			lit := c.syncLit
			c.syncLit = -1
			if c.contSent.Swap(false) {
				c.inLit = lit
				continue
			}
			c.inCmd = ""
		}
		i := bytes.IndexByte(c.rbuf, '\n')
		if c.longLine || c.dropLine {
			end := len(c.rbuf)
			if i >= 0 {
				end = i + 1
			}
			if c.longLine {
				c.out = append(c.out, c.rbuf[:end]...)
			}
			c.rbuf = c.rbuf[end:]
			if i >= 0 {
				c.longLine, c.dropLine = false, false
			}
			continue
		}
		if i < 0 {
			c.line = append(c.line, c.rbuf...)
			c.rbuf = c.rbuf[:0]
			if len(c.line) > maxLine {
				c.out = append(c.out, c.line...)
				c.line = c.line[:0]
				c.longLine = true
			}
			return
		}
		c.line = append(c.line, c.rbuf[:i+1]...)
		c.rbuf = c.rbuf[i+1:]
		seg := c.line
		c.line = nil
		c.command(seg)
	}
}

// command handles one segment of a command: a line, or the part of a line
// up to a literal.
func (c *wireConn) command(seg []byte) {
	first := c.inCmd == ""
	name := c.inCmd
	var tag string
	if first {
		tag, name = commandName(seg)
	}
	lit, nonSync, hasLit := literalHeader(seg)
	if hasLit {
		c.inCmd = name
	} else {
		c.inCmd = ""
	}

	switch {
	case first && name == "STARTTLS" && c.srv.opts.StartTLS && !c.tlsDone() && isBare(seg):
		// RFC 3501 6.2.1: anything the client sent after STARTTLS
		// before the TLS handshake is dropped (no command injection).
		c.startTLS = tag
		c.rbuf = c.rbuf[:0]
		return
	case first && !hasLit && name == "MYRIGHTS" && c.srv.aclOn():
		c.myRights(tag, seg)
		return
	case !c.condStoreOn():
	case first && !hasLit && (name == "SELECT" || name == "EXAMINE"):
		if s, ok := cutSuffixFold(seg, " (CONDSTORE)"); ok {
			seg = s
			c.condStore.Store(true)
		}
	case first && !hasLit && (name == "FETCH" || name == "UID FETCH"):
		if s, ok := rewriteFetch(seg); ok {
			seg = s
			c.condStore.Store(true)
		}
	case !hasLit && (name == "STATUS" || name == "LIST"):
		seg = rewriteStatusItems(seg, name)
	case first && name == "ENABLE":
		for _, f := range bytes.Fields(bytes.ToUpper(seg))[2:] {
			if string(f) == "CONDSTORE" {
				c.enablePn.Store(true)
				c.condStore.Store(true)
			}
		}
	}
	if hasLit {
		switch {
		case nonSync && c.refused(name, lit):
			// The imapserver refuses this literal before reading it and
			// would run its bytes as commands: swallow them here. After
			// a refused APPEND it reads a new command at once, so the
			// rest of the line goes too; elsewhere it discards the rest
			// of the line itself.
			c.dropLit = lit
			c.dropLine = name == "APPEND"
			c.inCmd = ""
		case nonSync:
			c.inLit = lit
		default:
			c.syncLit = lit
			c.contSent.Store(false)
		}
	}
	c.out = append(c.out, seg...)
}

// refused reports whether the imapserver answers a non-synchronizing
// literal with NO or BAD without reading it: over 4096 bytes without
// LITERAL+, or an APPEND over the limit ([TOOBIG]).
func (c *wireConn) refused(name string, size int64) bool {
	limit := int64(c.srv.opts.AppendLimit)
	return size > 4096 || (name == "APPEND" && limit > 0 && size > limit)
}

// upgrade answers STARTTLS and runs the TLS handshake on the socket.
func (c *wireConn) upgrade() error {
	tag := c.startTLS
	c.startTLS = ""
	c.wmu.Lock()
	defer c.wmu.Unlock()
	raw := c.conn()
	ok := tag + " OK Begin TLS negotiation now\r\n"
	if _, err := io.WriteString(raw, ok); err != nil {
		return err
	}
	c.traced([]byte(ok))
	tc := tls.Server(raw, c.srv.serverTLSConfig())
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		return err
	}
	tc.SetDeadline(time.Time{})
	c.tmu.Lock()
	c.transport = tc
	c.isTLS = true
	c.tmu.Unlock()
	return nil
}

// Write sends the imapserver's responses to the client, rewritten.
func (c *wireConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	total := len(p)
	t := c.conn()
	for len(p) > 0 {
		if c.wLit > 0 {
			n := min(int64(len(p)), c.wLit)
			if _, err := t.Write(p[:n]); err != nil {
				return total - len(p), err
			}
			c.traced(p[:n])
			c.wLit -= n
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.wline = append(c.wline, p...)
			break
		}
		c.wline = append(c.wline, p[:i+1]...)
		p = p[i+1:]
		seg := c.response(c.wline)
		if _, err := t.Write(seg); err != nil {
			c.wline = c.wline[:0]
			return total - len(p), err
		}
		c.traced(seg)
		c.wline = c.wline[:0]
	}
	return total, nil
}

// response rewrites one segment of a response.
func (c *wireConn) response(seg []byte) []byte {
	lit, _, hasLit := literalHeader(seg)
	first := !c.wCont
	c.wCont = hasLit
	if hasLit {
		c.wLit = lit
	}
	if !first {
		return seg
	}
	if bytes.HasPrefix(seg, []byte("+")) {
		c.contSent.Store(true)
		return seg
	}
	switch {
	case bytes.Contains(seg, []byte("CAPABILITY ")):
		return c.rewriteCaps(seg)
	case !c.condStoreOn():
		return seg
	case bytes.HasPrefix(seg, []byte("* ")) && bytes.Contains(seg, []byte(" FETCH (")):
		return rewriteModSeq(seg)
	case bytes.HasPrefix(seg, []byte("* STATUS ")):
		if i := bytes.LastIndexByte(seg, '('); i >= 0 {
			return append(append([]byte{}, seg[:i]...),
				bytes.Replace(seg[i:], []byte("DELETED-STORAGE"), []byte("HIGHESTMODSEQ"), 1)...)
		}
	case bytes.HasPrefix(seg, []byte("* ENABLED")) && c.enablePn.Swap(false):
		return append(bytes.TrimRight(seg, "\r\n"), " CONDSTORE\r\n"...)
	case !bytes.HasPrefix(seg, []byte("* ")) && (bytes.Contains(seg, []byte(" OK [READ-WRITE]")) || bytes.Contains(seg, []byte(" OK [READ-ONLY]"))):
		// RFC 7162 3.1.2.1: HIGHESTMODSEQ with every SELECT/EXAMINE.
		hms := "* OK [HIGHESTMODSEQ " + strconv.FormatUint(c.selModSeq.Load(), 10) + "] Highest\r\n"
		return append([]byte(hms), seg...)
	}
	return seg
}

func (c *wireConn) rewriteCaps(seg []byte) []byte {
	var extra string
	if c.condStoreOn() {
		extra += " CONDSTORE"
	}
	if c.srv.aclOn() {
		extra += " ACL"
	}
	if c.srv.opts.StartTLS && !c.tlsDone() && bytes.Contains(seg, []byte(" AUTH=")) {
		extra += " STARTTLS"
	}
	if extra == "" {
		return seg
	}
	const anchor = "CAPABILITY IMAP4rev1"
	i := bytes.Index(seg, []byte(anchor))
	if i < 0 {
		return seg
	}
	i += len(anchor)
	out := append([]byte{}, seg[:i]...)
	out = append(out, extra...)
	return append(out, seg[i:]...)
}

func (c *wireConn) traced(p []byte) {
	if c.srv.trace != nil && len(p) > 0 {
		c.srv.trace.Write(p)
	}
}

func (c *wireConn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.conn().Close() })
	return err
}

// sessionDone is called when the imapserver is done with the connection.
func (c *wireConn) sessionDone() {
	c.endOnce.Do(func() { c.srv.connClosed(c) })
}

func (c *wireConn) LocalAddr() net.Addr                { return c.conn().LocalAddr() }
func (c *wireConn) RemoteAddr() net.Addr               { return c.conn().RemoteAddr() }
func (c *wireConn) SetDeadline(t time.Time) error      { return c.conn().SetDeadline(t) }
func (c *wireConn) SetReadDeadline(t time.Time) error  { return c.conn().SetReadDeadline(t) }
func (c *wireConn) SetWriteDeadline(t time.Time) error { return c.conn().SetWriteDeadline(t) }

// commandName returns the tag and the upper-case command name of a command
// line ("UID FETCH" for UID commands).
func commandName(seg []byte) (tag, name string) {
	f := bytes.Fields(seg)
	if len(f) < 2 {
		return "", ""
	}
	tag, name = string(f[0]), string(bytes.ToUpper(f[1]))
	if name == "UID" && len(f) > 2 {
		name += " " + string(bytes.ToUpper(f[2]))
	}
	return tag, name
}

func isBare(seg []byte) bool {
	return len(bytes.Fields(seg)) == 2
}

// literalHeader reports whether seg ends with a literal header "{n}",
// "{n+}" or "~{n}" before its line end, and the literal's size.
func literalHeader(seg []byte) (size int64, nonSync, ok bool) {
	s := bytes.TrimSuffix(bytes.TrimSuffix(seg, []byte("\n")), []byte("\r"))
	if len(s) < 3 || s[len(s)-1] != '}' {
		return 0, false, false
	}
	s = s[:len(s)-1]
	if s[len(s)-1] == '+' {
		nonSync = true
		s = s[:len(s)-1]
	}
	i := bytes.LastIndexByte(s, '{')
	if i < 0 || i == len(s)-1 {
		return 0, false, false
	}
	n, err := strconv.ParseInt(string(s[i+1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, false, false
	}
	return n, nonSync, true
}

func cutSuffixFold(seg []byte, suffix string) ([]byte, bool) {
	end := len(seg)
	le := "\n"
	if bytes.HasSuffix(seg, []byte("\r\n")) {
		le = "\r\n"
	}
	body := seg[:end-len(le)]
	if len(body) < len(suffix) || !bytes.EqualFold(body[len(body)-len(suffix):], []byte(suffix)) {
		return seg, false
	}
	out := append([]byte{}, body[:len(body)-len(suffix)]...)
	return append(out, le...), true
}
