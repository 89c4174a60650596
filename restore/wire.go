package restore

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/mutf7"
)

// appendConn is mailkeep's own small IMAP client for the connections that
// APPEND. go-imap cannot send MULTIAPPEND (RFC 3502), and sends literals
// of up to 4096 bytes as non-synchronizing ones whenever the server has
// LITERAL+ (see syncLiterals). Here every literal is synchronizing: the
// body is written only after the server's "+", so a server that rejects
// an APPEND's command line never reads the body, and a body line such as
// "x1 DELETE INBOX" can never run as a command. MULTIAPPEND puts many
// messages into one command, which a server such as Dovecot stores in one
// transaction (one index update instead of one per message). Any BAD
// closes the connection.
type appendConn struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
	trace   io.Writer
	caps    map[string]bool
	tag     int
	stop    func() bool
	broken  bool
}

// response is one server response line, literals included.
type response struct {
	tag  string // "*" untagged, "+" continuation, else a command's tag
	kind string // OK, NO, BAD, BYE, PREAUTH, ... (upper case); "" for "+"
	code string // response code name, e.g. APPENDUID, TRYCREATE
	args string // response code arguments
	text string // human-readable text
	raw  string
}

func (r *response) err() error {
	t := imap.StatusResponseType(r.kind)
	return &imap.Error{Type: t, Code: imap.ResponseCode(r.code), Text: r.text}
}

// dialAppend connects, secures and logs in as o says.
func dialAppend(ctx context.Context, o *imapconn.Options) (*appendConn, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, &imapconn.Error{Op: "dial", Err: err, Permanent: true}
	}
	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, &imapconn.Error{Op: "connect to " + o.Addr, Err: err}
	}
	a := &appendConn{conn: raw, timeout: timeout, trace: o.Trace}
	a.stop = context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(op string, err error) (*appendConn, error) {
		a.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ie *imapconn.Error
		if errors.As(err, &ie) {
			return nil, err
		}
		return nil, &imapconn.Error{Op: op, Err: err}
	}
	tcfg := o.TLSConfig.Clone()
	if tcfg == nil {
		tcfg = &tls.Config{}
	}
	if tcfg.ServerName == "" {
		tcfg.ServerName = host
	}
	switch o.Security {
	case "", "tls":
		tc := tls.Client(raw, tcfg)
		tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("tls handshake with "+o.Addr, &imapconn.Error{Op: "tls", Err: err, Permanent: true})
		}
		a.conn = tc
	case "starttls", "none":
	default:
		return fail("dial", &imapconn.Error{Op: "dial", Err: fmt.Errorf("unknown security %q", o.Security), Permanent: true})
	}
	a.r, a.w = bufio.NewReaderSize(a.conn, 64<<10), bufio.NewWriterSize(a.conn, 64<<10)
	g, err := a.read()
	if err != nil {
		return fail("greeting from "+o.Addr, err)
	}
	if g.tag != "*" || (g.kind != "OK" && g.kind != "PREAUTH") {
		return fail("greeting from "+o.Addr, fmt.Errorf("server said %q", g.raw))
	}
	a.noteCaps(g)
	if o.Security == "starttls" {
		if g.kind == "PREAUTH" {
			return fail("starttls", &imapconn.Error{Op: "starttls", Err: errors.New("server sent PREAUTH before TLS"), Permanent: true})
		}
		if r, err := a.simple("STARTTLS"); err != nil || r.kind != "OK" {
			if err == nil {
				err = &imapconn.Error{Op: "starttls", Err: fmt.Errorf("server refused STARTTLS: %s", r.text), Permanent: true}
			}
			return fail("starttls with "+o.Addr, err)
		}
		tc := tls.Client(a.conn, tcfg)
		tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("tls handshake with "+o.Addr, &imapconn.Error{Op: "tls", Err: err, Permanent: true})
		}
		a.conn = tc
		a.r, a.w = bufio.NewReaderSize(tc, 64<<10), bufio.NewWriterSize(tc, 64<<10)
		a.caps = nil
	}
	if g.kind != "PREAUTH" {
		secret := ""
		if o.Secret != nil {
			if secret, err = o.Secret(ctx); err != nil {
				a.close()
				return nil, &imapconn.Error{Op: "get secret", Err: err, Permanent: true}
			}
		}
		if err := a.login(o, secret); err != nil {
			return fail("login as "+o.Username, err)
		}
	}
	if a.caps == nil {
		if _, err := a.simple("CAPABILITY"); err != nil {
			return fail("capability", err)
		}
	}
	return a, nil
}

func (a *appendConn) close() {
	a.broken = true
	if a.stop != nil {
		a.stop()
	}
	a.conn.Close()
}

func (a *appendConn) has(c string) bool { return a.caps[strings.ToUpper(c)] }

// noteCaps records a capability list from "* CAPABILITY ..." or a
// "[CAPABILITY ...]" response code.
func (a *appendConn) noteCaps(r *response) {
	list := ""
	switch {
	case r.code == "CAPABILITY":
		list = r.args
	case r.tag == "*" && r.kind == "CAPABILITY":
		list = r.text
	default:
		return
	}
	a.caps = map[string]bool{}
	for _, c := range strings.Fields(list) {
		a.caps[strings.ToUpper(c)] = true
	}
}

func (a *appendConn) tracef(format string, args ...any) {
	if a.trace != nil {
		fmt.Fprintf(a.trace, format+"\n", args...)
	}
}

// read reads one response; a literal inside it is kept as "{n}" only.
func (a *appendConn) read() (*response, error) {
	a.conn.SetReadDeadline(time.Now().Add(a.timeout))
	var line strings.Builder
	for {
		s, err := a.r.ReadString('\n')
		if err != nil {
			a.broken = true
			return nil, err
		}
		line.WriteString(strings.TrimRight(s, "\r\n"))
		n, ok := trailingLiteral(s)
		if !ok {
			break
		}
		if _, err := io.CopyN(io.Discard, a.r, n); err != nil {
			a.broken = true
			return nil, err
		}
	}
	r := parseResponse(line.String())
	a.tracef("S: %s", r.raw)
	return r, nil
}

func trailingLiteral(s string) (int64, bool) {
	s = strings.TrimRight(s, "\r\n")
	if !strings.HasSuffix(s, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s[i+1:len(s)-1], "+"), 10, 64)
	return n, err == nil && n >= 0
}

func parseResponse(s string) *response {
	r := &response{raw: s}
	if strings.HasPrefix(s, "+") {
		r.tag, r.text = "+", strings.TrimSpace(s[1:])
		return r
	}
	tag, rest, _ := strings.Cut(s, " ")
	r.tag = tag
	kind, rest, _ := strings.Cut(rest, " ")
	r.kind = strings.ToUpper(kind)
	if strings.HasPrefix(rest, "[") {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			code := rest[1:end]
			r.code, r.args, _ = strings.Cut(code, " ")
			r.code = strings.ToUpper(r.code)
			rest = strings.TrimSpace(rest[end+1:])
		}
	}
	r.text = rest
	return r
}

func (a *appendConn) nextTag() string {
	a.tag++
	return "M" + strconv.Itoa(a.tag)
}

func (a *appendConn) write(p string) error {
	a.conn.SetWriteDeadline(time.Now().Add(a.timeout))
	if _, err := a.w.WriteString(p); err != nil {
		a.broken = true
		return err
	}
	return nil
}

func (a *appendConn) flush() error {
	a.conn.SetWriteDeadline(time.Now().Add(a.timeout))
	if err := a.w.Flush(); err != nil {
		a.broken = true
		return err
	}
	return nil
}

// await reads until the tagged answer to tag, or (when cont is set) a
// continuation request, which is returned with tag "+".
func (a *appendConn) await(tag string, cont bool) (*response, error) {
	for {
		r, err := a.read()
		if err != nil {
			return nil, err
		}
		a.noteCaps(r)
		switch {
		case r.tag == "+" && cont:
			return r, nil
		case r.tag == "*" && r.kind == "BYE":
			a.broken = true
			return r, nil
		case r.tag == tag:
			if r.kind == "BAD" {
				a.close() // RFC 3501 7.1.3: nothing after a BAD is to be trusted
			}
			return r, nil
		}
	}
}

// simple runs a command without literals and returns its tagged answer.
func (a *appendConn) simple(cmd string) (*response, error) {
	tag := a.nextTag()
	a.tracef("C: %s %s", tag, cmd)
	if err := a.write(tag + " " + cmd + "\r\n"); err != nil {
		return nil, err
	}
	if err := a.flush(); err != nil {
		return nil, err
	}
	return a.await(tag, false)
}

// login authenticates as imapconn does: PLAIN where offered, else LOGIN,
// or the configured mechanism.
func (a *appendConn) login(o *imapconn.Options, secret string) error {
	if strings.ContainsAny(o.Username, "\r\n\x00") || strings.ContainsAny(secret, "\r\n\x00") {
		return &imapconn.Error{Op: "login", Err: errors.New("user name or secret contains CR, LF or NUL; refusing to send it"), Permanent: true}
	}
	if a.caps == nil {
		if _, err := a.simple("CAPABILITY"); err != nil {
			return err
		}
	}
	mech := o.Auth
	if mech == "" {
		mech = "login"
		if a.has("AUTH=PLAIN") {
			mech = "plain"
		}
	}
	var r *response
	var err error
	switch mech {
	case "login":
		if a.has("LOGINDISABLED") {
			return &imapconn.Error{Op: "login", Err: errors.New("server refuses LOGIN (LOGINDISABLED); use security: tls or starttls"), Permanent: true}
		}
		r, err = a.loginCommand(o.Username, secret)
	case "plain":
		r, err = a.authenticate(sasl.NewPlainClient("", o.Username, secret))
	case "xoauth2":
		r, err = a.authenticate(xoauth2{user: o.Username, token: secret})
	case "oauthbearer":
		host, port, _ := net.SplitHostPort(o.Addr)
		p, _ := strconv.Atoi(port)
		r, err = a.authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: o.Username, Token: secret, Host: host, Port: p}))
	default:
		return &imapconn.Error{Op: "login", Err: fmt.Errorf("unknown auth mechanism %q", mech), Permanent: true}
	}
	if err != nil {
		return err
	}
	if r.kind != "OK" {
		return &imapconn.Error{Op: "login", Err: fmt.Errorf("authentication failed: %s", r.text), Permanent: r.kind == "NO" || r.kind == "BAD"}
	}
	if r.code != "CAPABILITY" {
		a.caps = nil // RFC 3501 6.2: capabilities may change after login
	}
	return nil
}

// loginCommand sends LOGIN with both arguments as quoted strings, or as
// synchronizing literals where quoting cannot carry them.
func (a *appendConn) loginCommand(user, pass string) (*response, error) {
	tag := a.nextTag()
	a.tracef("C: %s LOGIN %s ***", tag, user)
	if err := a.write(tag + " LOGIN"); err != nil {
		return nil, err
	}
	for _, s := range []string{user, pass} {
		if !needsLiteral(s) {
			if err := a.write(" " + quoteString(s)); err != nil {
				return nil, err
			}
			continue
		}
		if err := a.write(fmt.Sprintf(" {%d}\r\n", len(s))); err != nil {
			return nil, err
		}
		if err := a.flush(); err != nil {
			return nil, err
		}
		if r, err := a.await(tag, true); err != nil || r.tag != "+" {
			return r, err
		}
		if err := a.write(s); err != nil {
			return nil, err
		}
	}
	if err := a.write("\r\n"); err != nil {
		return nil, err
	}
	if err := a.flush(); err != nil {
		return nil, err
	}
	return a.await(tag, false)
}

func (a *appendConn) authenticate(c sasl.Client) (*response, error) {
	mech, ir, err := c.Start()
	if err != nil {
		return nil, &imapconn.Error{Op: "login", Err: err, Permanent: true}
	}
	tag := a.nextTag()
	line := tag + " AUTHENTICATE " + mech
	if ir != nil && a.has("SASL-IR") {
		enc := base64.StdEncoding.EncodeToString(ir)
		if enc == "" {
			enc = "="
		}
		line += " " + enc
		ir = nil
	}
	a.tracef("C: %s AUTHENTICATE %s ***", tag, mech)
	if err := a.write(line + "\r\n"); err != nil {
		return nil, err
	}
	if err := a.flush(); err != nil {
		return nil, err
	}
	for {
		r, err := a.await(tag, true)
		if err != nil || r.tag != "+" {
			return r, err
		}
		var resp []byte
		if ir != nil {
			resp, ir = ir, nil
		} else {
			chal, _ := base64.StdEncoding.DecodeString(r.text)
			if resp, err = c.Next(chal); err != nil {
				resp = nil // answer with an empty line: the server ends the exchange with NO
			}
		}
		if err := a.write(base64.StdEncoding.EncodeToString(resp) + "\r\n"); err != nil {
			return nil, err
		}
		if err := a.flush(); err != nil {
			return nil, err
		}
	}
}

// xoauth2 is the SASL mechanism of Gmail and Microsoft 365.
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

func needsLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return true
		}
	}
	return false
}

// quoteString writes s as an IMAP quoted string.
func quoteString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// mailboxArg encodes a mailbox name for a command: modified UTF-7 (RFC
// 3501 5.1.3), quoted.
func mailboxArg(name string) string {
	if isInbox(name) {
		return "INBOX"
	}
	return quoteString(mutf7.Encode(name))
}

// outMsg is one message of an APPEND.
type outMsg struct {
	flags []imap.Flag
	date  time.Time
	size  int64
	open  func() (io.ReadCloser, error)
}

// appendResult is how far one APPEND command got.
type appendResult struct {
	// sent is how many bodies went out in full; refused is the index of
	// the message the server refused before its body (-1 if none).
	sent, refused int
	// complete: the whole command went out (its final CRLF), so the
	// server may have stored the messages even without an answer.
	complete bool
	answer   *response // the tagged answer (or BYE); nil if none came
	err      error     // the connection failed
	uidv     uint32
	uids     []uint32 // from APPENDUID, in the order of msgs, when complete
}

// appendMsgs APPENDs msgs to mailbox in one command: MULTIAPPEND when
// there are several (the caller checks the server has it). Each message's
// arguments are followed by a synchronizing literal: its body is written
// only after the server's "+".
func (a *appendConn) appendMsgs(mailbox string, msgs []outMsg) appendResult {
	res := appendResult{refused: -1}
	tag := a.nextTag()
	for i, m := range msgs {
		var line strings.Builder
		if i == 0 {
			line.WriteString(tag + " APPEND " + mailboxArg(mailbox))
		}
		if len(m.flags) > 0 {
			line.WriteString(" (")
			for j, f := range m.flags {
				if j > 0 {
					line.WriteByte(' ')
				}
				line.WriteString(string(f))
			}
			line.WriteByte(')')
		}
		if !m.date.IsZero() {
			line.WriteString(` "` + m.date.Format("_2-Jan-2006 15:04:05 -0700") + `"`)
		}
		fmt.Fprintf(&line, " {%d}\r\n", m.size)
		a.tracef("C: %s", strings.TrimRight(line.String(), "\r\n"))
		if err := a.write(line.String()); err != nil {
			res.err = err
			return res
		}
		if err := a.flush(); err != nil {
			res.err = err
			return res
		}
		r, err := a.await(tag, true)
		if err != nil {
			res.err = err
			return res
		}
		if r.tag != "+" {
			// Refused before the body: the server never reads it.
			res.refused, res.answer = i, r
			return res
		}
		body, err := m.open()
		if err != nil {
			// The archive failed: this connection is mid-command; drop it.
			a.close()
			res.err = fmt.Errorf("%w: %w", errArchive, err)
			return res
		}
		a.conn.SetWriteDeadline(time.Now().Add(a.timeout))
		n, err := io.Copy(deadlineWriter{a}, body)
		body.Close()
		if err == nil && n != m.size {
			err = fmt.Errorf("message is %d bytes, %d announced", n, m.size)
			a.close()
		}
		if err != nil {
			a.broken = true
			res.err = err
			return res
		}
		a.tracef("C: <%d bytes>", n)
		res.sent++
	}
	if err := a.write("\r\n"); err != nil {
		res.err = err
		return res
	}
	if err := a.flush(); err != nil {
		res.err = err
		return res
	}
	res.complete = true
	r, err := a.await(tag, false)
	if err != nil {
		res.err = err
		return res
	}
	res.answer = r
	if r.kind == "OK" && r.code == "APPENDUID" {
		res.uidv, res.uids = parseAppendUID(r.args, len(msgs))
	}
	return res
}

// deadlineWriter refreshes the write deadline for each chunk of a body.
type deadlineWriter struct{ a *appendConn }

func (d deadlineWriter) Write(p []byte) (int, error) {
	d.a.conn.SetWriteDeadline(time.Now().Add(d.a.timeout))
	return d.a.w.Write(p)
}

// parseAppendUID reads "uidvalidity uid-set" (RFC 4315 3); the UIDs are
// returned in order only when there are exactly n.
func parseAppendUID(args string, n int) (uint32, []uint32) {
	f := strings.Fields(args)
	if len(f) != 2 {
		return 0, nil
	}
	v, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, nil
	}
	var uids []uint32
	for _, part := range strings.Split(f[1], ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 32)
		}
		if err1 != nil || err2 != nil || b < a || len(uids)+int(b-a+1) > n {
			return uint32(v), nil
		}
		for u := a; u <= b; u++ {
			uids = append(uids, uint32(u))
		}
	}
	if len(uids) != n {
		return uint32(v), nil
	}
	return uint32(v), uids
}
