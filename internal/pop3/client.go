package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// DefaultTimeout bounds every single read and write when Options.Timeout
// is zero.
const DefaultTimeout = 60 * time.Second

const bufSize = 64 << 10

// Options configures Dial. A nil *Options means implicit TLS with the
// system roots and DefaultTimeout.
type Options struct {
	// Security is "tls" (implicit TLS, usually port 995), "starttls"
	// (plain connection upgraded with STLS, RFC 2595; Dial fails with
	// ErrNoSTLS if CAPA does not offer it) or "none". Empty means "tls".
	Security string
	// TLSConfig is cloned; ServerName defaults to the host of addr.
	TLSConfig *tls.Config
	// Timeout is the deadline of each read and each write (not of a
	// whole command: a 50 MB RETR that keeps flowing is fine).
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Trace, if set, receives the protocol dialogue ("C: ", "S: "
	// lines). Arguments of PASS, APOP and AUTH exchanges are redacted
	// and message contents are summarised, not copied.
	Trace io.Writer
}

// Client is one POP3 connection.
type Client struct {
	raw      net.Conn // the TCP connection; closing it aborts any call
	conn     net.Conn // raw or TLS over it, both with per-call deadlines
	br       *bufio.Reader
	bw       *bufio.Writer
	timeout  time.Duration
	trace    io.Writer
	greeting string
	apopTS   string
	caps     Caps
	broken   error
	closed   bool
}

// Caps is a CAPA response (RFC 2449): capability names, upper case,
// mapped to their arguments.
type Caps map[string][]string

// deadlineConn puts a fresh deadline on every Read and Write, so a
// stalled peer gives a timeout error while a steady stream never does.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Dial connects to addr ("host:port"), reads the greeting, fetches CAPA
// and, with Security "starttls", upgrades the connection. ctx bounds the
// dial and these first exchanges only; later calls take their own ctx.
func Dial(ctx context.Context, addr string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	sec := strings.ToLower(o.Security)
	if sec == "" {
		sec = "tls"
	}
	if sec != "tls" && sec != "starttls" && sec != "none" {
		return nil, fmt.Errorf("pop3 dial %s: unknown security %q (want tls, starttls or none)", addr, o.Security)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("pop3 dial %s: %w", addr, err)
	}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		tcfg = o.TLSConfig.Clone()
	}
	if tcfg.ServerName == "" {
		tcfg.ServerName = host
	}

	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pop3 dial %s: %w", addr, err)
	}
	c := &Client{raw: raw, timeout: timeout, trace: o.Trace}
	c.setConn(&deadlineConn{Conn: raw, timeout: timeout})

	stop := context.AfterFunc(ctx, func() { raw.Close() })
	err = c.start(ctx, sec, tcfg)
	if !stop() {
		err = context.Cause(ctx)
	}
	if err != nil {
		raw.Close()
		var pe *Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("pop3 dial %s: %w", addr, err)
	}
	return c, nil
}

func (c *Client) setConn(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, bufSize)
	c.bw = bufio.NewWriterSize(conn, 4096)
}

func (c *Client) start(ctx context.Context, sec string, tcfg *tls.Config) error {
	if sec == "tls" {
		tc := tls.Client(c.conn, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		c.setConn(tc)
	}
	line, err := c.readLine()
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	ok, text, err := parseStatus(line)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if !ok {
		return newError("greeting", text)
	}
	c.greeting = text
	c.apopTS = apopTimestamp(text)
	if err := c.loadCaps(); err != nil {
		return err
	}
	if sec != "starttls" {
		return nil
	}
	if !c.HasCap("STLS") {
		return ErrNoSTLS
	}
	if _, err := c.cmd("STLS"); err != nil {
		return err
	}
	// RFC 2595 section 4: anything the server sent after its +OK and
	// before the handshake could be injected by an attacker.
	if c.br.Buffered() > 0 {
		return fmt.Errorf("stls: %w: data after +OK before TLS", errProtocol)
	}
	tc := tls.Client(c.conn, tcfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("stls handshake: %w", err)
	}
	c.setConn(tc)
	// RFC 2595 section 4: capabilities must be fetched again after TLS.
	return c.loadCaps()
}

// apopTimestamp returns the <...> msg-id of an APOP greeting (RFC 1939
// section 7), or "".
func apopTimestamp(text string) string {
	i := strings.IndexByte(text, '<')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(text[i:], '>')
	if j < 0 {
		return ""
	}
	ts := text[i : i+j+1]
	if !strings.Contains(ts, "@") {
		return ""
	}
	return ts
}

// Greeting returns the text of the server's +OK greeting.
func (c *Client) Greeting() string { return c.greeting }

// APOPTimestamp returns the timestamp of the greeting ("<1896.697170952@dbc.mtview.ca.us>"),
// or "" when the server did not send one and so does not offer APOP.
func (c *Client) APOPTimestamp() string { return c.apopTS }

// Caps returns the capabilities from the latest CAPA (fetched at Dial,
// after STLS and after Auth), or nil if the server does not answer CAPA.
func (c *Client) Caps() Caps { return c.caps }

// HasCap reports whether the latest CAPA listed name (case-insensitive).
func (c *Client) HasCap(name string) bool {
	_, ok := c.caps[strings.ToUpper(name)]
	return ok
}

func (c *Client) loadCaps() error {
	caps := Caps{}
	err := c.multi("CAPA", func(line []byte) error {
		f := strings.Fields(string(line))
		if len(f) > 0 {
			caps[strings.ToUpper(f[0])] = f[1:]
		}
		return nil
	})
	var pe *Error
	if errors.As(err, &pe) {
		return nil // an RFC 1939 server without CAPA: keep what we had
	}
	if err != nil {
		return err
	}
	c.caps = caps
	return nil
}

// Close closes the connection without QUIT. The server then discards
// every DELE of this session (RFC 1939 section 6).
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.broken == nil {
		c.broken = net.ErrClosed
	}
	return c.raw.Close()
}

// fail marks the client broken and closes the connection. It returns err.
func (c *Client) fail(err error) error {
	if c.broken == nil {
		c.broken = err
	}
	c.raw.Close()
	return err
}

// do runs one command exchange: it refuses early if the client is broken,
// closes the connection if ctx ends meanwhile, and names the command in
// errors. *Error values (the server's -ERR) are returned unwrapped.
func (c *Client) do(ctx context.Context, name string, f func() error) error {
	if c.broken != nil {
		return fmt.Errorf("pop3 %s: %w: %w", name, ErrBroken, c.broken)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pop3 %s: %w", name, context.Cause(ctx))
	}
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	err := f()
	if !stop() {
		cause := context.Cause(ctx)
		c.fail(cause)
		var pe *Error
		if err != nil && !errors.As(err, &pe) {
			return fmt.Errorf("pop3 %s: %w", name, cause)
		}
	}
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("pop3 %s: %w", name, err)
}
