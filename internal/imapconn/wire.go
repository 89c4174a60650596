package imapconn

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
)

// AppendClient is mailkeep's own small IMAP client for the connections
// that APPEND. go-imap cannot send MULTIAPPEND (RFC 3502), and sends
// literals of up to 4096 bytes as non-synchronizing ones whenever the
// server has LITERAL+. Here every literal is synchronizing: the body is
// written only after the server's "+", so a server that rejects an
// APPEND's command line never reads the body, and a body line such as
// "x1 DELETE INBOX" can never run as a command. Any BAD closes the
// connection. It dials, secures and logs in exactly as Dial does, over
// the same guard (deadlines per response, bounded lines).
type AppendClient struct {
	tr     *transport
	r      *bufio.Reader
	w      *bufio.Writer
	trace  io.Writer
	caps   map[string]bool
	tag    int
	stop   func() bool
	broken bool
}

// Response is one server response line, literals left out.
type Response struct {
	Tag  string // "*" untagged, "+" continuation, else a command's tag
	Kind string // OK, NO, BAD, BYE, PREAUTH, ... (upper case); "" for "+"
	Code string // response code name, e.g. APPENDUID, TRYCREATE
	Args string // response code arguments
	Text string // human-readable text
	Raw  string
}

// Err is the response as an *imap.Error.
func (r *Response) Err() error {
	return &imap.Error{Type: imap.StatusResponseType(r.Kind), Code: imap.ResponseCode(r.Code), Text: r.Text}
}

// DialAppend connects, secures and logs in as o says.
func DialAppend(ctx context.Context, opt *Options) (*AppendClient, error) {
	o := opt.withDefaults()
	tr, err := dialTransport(ctx, o)
	if err != nil {
		return nil, err
	}
	red := &redactor{w: o.Trace}
	a := &AppendClient{tr: tr, trace: o.Trace}
	if o.Trace != nil {
		a.trace = red
	}
	a.stop = context.AfterFunc(ctx, func() { tr.raw.Close() })
	a.r, a.w = bufio.NewReaderSize(tr.g, 64<<10), bufio.NewWriterSize(tr.g, 64<<10)
	fail := func(op string, err error) (*AppendClient, error) {
		a.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if gerr := tr.g.failure(); gerr != nil {
			err = gerr
		}
		return nil, classify(op, err)
	}
	preauth := false
	if !tr.greeted {
		g, err := a.read()
		if err != nil {
			return fail("greeting from "+o.Addr, err)
		}
		if g.Tag != "*" || (g.Kind != "OK" && g.Kind != "PREAUTH") {
			return fail("greeting from "+o.Addr, fmt.Errorf("server said %q", g.Raw))
		}
		preauth = g.Kind == "PREAUTH"
		a.noteCaps(g)
	}
	if !preauth {
		secret := ""
		if o.Secret != nil {
			if secret, err = o.Secret(ctx); err != nil {
				a.Close()
				return nil, &Error{Op: "get secret", Err: err, Permanent: true}
			}
		}
		red.setSecret(o.Username, secret)
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

// Close drops the connection (an APPEND connection has nothing to say
// goodbye for).
func (a *AppendClient) Close() {
	a.broken = true
	if a.stop != nil {
		a.stop()
	}
	a.tr.raw.Close()
}

// Broken reports whether the connection can no longer be used.
func (a *AppendClient) Broken() bool { return a.broken }

// Has reports whether the server announced capability c.
func (a *AppendClient) Has(c string) bool { return a.caps[strings.ToUpper(c)] }

// noteCaps records a capability list from "* CAPABILITY ..." or a
// "[CAPABILITY ...]" response code.
func (a *AppendClient) noteCaps(r *Response) {
	list := ""
	switch {
	case r.Code == "CAPABILITY":
		list = r.Args
	case r.Tag == "*" && r.Kind == "CAPABILITY":
		list = r.Text
	default:
		return
	}
	a.caps = map[string]bool{}
	for _, c := range strings.Fields(list) {
		a.caps[strings.ToUpper(c)] = true
	}
}

func (a *AppendClient) tracef(format string, args ...any) {
	if a.trace != nil {
		fmt.Fprintf(a.trace, format+"\n", args...)
	}
}

// read reads one response; a literal inside it is skipped, "{n}" kept.
func (a *AppendClient) read() (*Response, error) {
	var line strings.Builder
	for {
		s, err := a.r.ReadString('\n')
		if err != nil {
			a.broken = true
			return nil, a.failure(err)
		}
		line.WriteString(strings.TrimRight(s, "\r\n"))
		n, _, ok := literalAt([]byte(s))
		if !ok {
			break
		}
		if _, err := io.CopyN(io.Discard, a.r, n); err != nil {
			a.broken = true
			return nil, a.failure(err)
		}
	}
	r := parseResponse(line.String())
	a.tracef("S: %s", r.Raw)
	return r, nil
}

// failure prefers the guard's reason to the bufio error it caused.
func (a *AppendClient) failure(err error) error {
	if gerr := a.tr.g.failure(); gerr != nil {
		return gerr
	}
	return err
}

func parseResponse(s string) *Response {
	r := &Response{Raw: s}
	if strings.HasPrefix(s, "+") {
		r.Tag, r.Text = "+", strings.TrimSpace(s[1:])
		return r
	}
	tag, rest, _ := strings.Cut(s, " ")
	r.Tag = tag
	kind, rest, _ := strings.Cut(rest, " ")
	r.Kind = strings.ToUpper(kind)
	if strings.HasPrefix(rest, "[") {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			code := rest[1:end]
			r.Code, r.Args, _ = strings.Cut(code, " ")
			r.Code = strings.ToUpper(r.Code)
			rest = strings.TrimSpace(rest[end+1:])
		}
	}
	r.Text = rest
	return r
}

func (a *AppendClient) nextTag() string {
	a.tag++
	return "M" + strconv.Itoa(a.tag)
}

func (a *AppendClient) write(p string) error {
	if _, err := a.w.WriteString(p); err != nil {
		a.broken = true
		return a.failure(err)
	}
	return nil
}

func (a *AppendClient) flush() error {
	if err := a.w.Flush(); err != nil {
		a.broken = true
		return a.failure(err)
	}
	return nil
}

// await reads until the tagged answer to tag, or (when cont is set) a
// continuation request, which is returned with tag "+".
func (a *AppendClient) await(tag string, cont bool) (*Response, error) {
	for {
		r, err := a.read()
		if err != nil {
			return nil, err
		}
		a.noteCaps(r)
		switch {
		case r.Tag == "+" && cont:
			return r, nil
		case r.Tag == "*" && r.Kind == "BYE":
			a.broken = true
			return r, nil
		case r.Tag == tag:
			if r.Kind == "BAD" {
				a.Close() // RFC 3501 7.1.3: nothing after a BAD is to be trusted
			}
			return r, nil
		}
	}
}

// simple runs a command without literals and returns its tagged answer.
func (a *AppendClient) simple(cmd string) (*Response, error) {
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

// login authenticates with the mechanism Dial would use.
func (a *AppendClient) login(o *Options, secret string) error {
	if a.caps == nil {
		if _, err := a.simple("CAPABILITY"); err != nil {
			return err
		}
	}
	sc, err := mechanism(o, a.Has, secret)
	if err != nil {
		return err
	}
	var r *Response
	if sc == nil {
		r, err = a.loginCommand(o.Username, secret)
	} else {
		r, err = a.authenticate(sc)
	}
	if err != nil {
		return err
	}
	if r.Kind != "OK" {
		return authFailed(r.Text)
	}
	if r.Code != "CAPABILITY" {
		a.caps = nil // RFC 3501 6.2: capabilities may change after login
	}
	return nil
}

// loginCommand sends LOGIN with both arguments as quoted strings, or as
// synchronizing literals where quoting cannot carry them.
func (a *AppendClient) loginCommand(user, pass string) (*Response, error) {
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
		if r, err := a.await(tag, true); err != nil || r.Tag != "+" {
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

func (a *AppendClient) authenticate(c sasl.Client) (*Response, error) {
	mech, ir, err := c.Start()
	if err != nil {
		return nil, &Error{Op: "login", Err: err, Permanent: true}
	}
	tag := a.nextTag()
	line := tag + " AUTHENTICATE " + mech
	if ir != nil && a.Has("SASL-IR") {
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
		if err != nil || r.Tag != "+" {
			return r, err
		}
		var resp []byte
		if ir != nil {
			resp, ir = ir, nil
		} else {
			chal, _ := base64.StdEncoding.DecodeString(r.Text)
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
