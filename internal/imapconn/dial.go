package imapconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// transport is a connection ready to speak IMAP over: TCP, the caller's
// wrapper (a rate limiter), TLS (implicit, or after STARTTLS, which is
// done here for both clients), and the guard above TLS, where the IMAP
// stream is in the clear.
type transport struct {
	raw net.Conn // TCP: closing it fails every pending read at once
	g   *guard   // what the IMAP client reads and writes
	// greeted: the greeting was read here (STARTTLS); the client must
	// not wait for one.
	greeted bool
}

// dialTransport connects and secures as o says. It never returns a
// transport that is not encrypted unless o.Security is "none".
func dialTransport(ctx context.Context, o *Options) (*transport, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, &Error{Op: "dial", Err: err, Permanent: true}
	}
	switch o.Security {
	case "", "tls", "starttls", "none":
	default:
		return nil, &Error{Op: "dial", Err: fmt.Errorf("unknown security %q", o.Security), Permanent: true}
	}
	d := net.Dialer{Timeout: o.Timeout}
	raw, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, &Error{Op: "connect to " + o.Addr, Err: err}
	}
	if o.WrapConn != nil {
		raw = o.WrapConn(raw)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	fail := func(op string, err error) (*transport, error) {
		raw.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, classify(op, err)
	}
	tcfg, err := tlsConfig(o, host)
	if err != nil {
		raw.Close()
		return nil, err
	}
	tr := &transport{raw: raw}
	switch o.Security {
	case "", "tls":
		tc, err := handshake(ctx, raw, tcfg, o.Timeout)
		if err != nil {
			return fail("tls handshake with "+o.Addr, err)
		}
		tr.g = newGuard(tc, o)
	case "starttls":
		if err := startTLS(newGuard(raw, o)); err != nil {
			return fail("starttls with "+o.Addr, err)
		}
		tc, err := handshake(ctx, raw, tcfg, o.Timeout)
		if err != nil {
			return fail("tls handshake with "+o.Addr, err)
		}
		tr.g, tr.greeted = newGuard(tc, o), true
	case "none":
		tr.g = newGuard(raw, o)
	}
	return tr, nil
}

func handshake(ctx context.Context, raw net.Conn, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	tc := tls.Client(raw, cfg)
	raw.SetDeadline(time.Now().Add(timeout))
	err := tc.HandshakeContext(ctx)
	raw.SetDeadline(time.Time{})
	if err != nil {
		if Transient(err) {
			return nil, err
		}
		// A certificate not trusted, a pin that does not match, no
		// common cipher: the same next time.
		return nil, &Error{Op: "tls", Err: err, Permanent: true}
	}
	return tc, nil
}

// Probe connects and secures as Dial does, up to and including the TLS
// handshake (after STARTTLS where configured), and hangs up: for looking
// at the server's certificate (o.TLSConfig's VerifyConnection sees it).
func Probe(ctx context.Context, opt *Options) error {
	o := opt.withDefaults()
	if o.Security == "none" {
		return &Error{Op: "probe", Err: errors.New("security: none: the server sends no certificate"), Permanent: true}
	}
	tr, err := dialTransport(ctx, o)
	if err != nil {
		return err
	}
	tr.raw.Close()
	return nil
}

// startTLS reads the greeting and runs STARTTLS (RFC 3501 6.2.1) byte by
// byte, so that nothing the server sends before the TLS handshake can be
// buffered and later taken for protected data.
func startTLS(g *guard) error {
	greeting, err := readLine(g)
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(greeting, "* PREAUTH"):
		return &Error{Op: "starttls", Err: errors.New("server sent PREAUTH before TLS; refusing to go on in plain text"), Permanent: true}
	case !strings.HasPrefix(greeting, "* OK"):
		return fmt.Errorf("greeting: server said %q", greeting)
	}
	if _, err := g.Write([]byte("S0 STARTTLS\r\n")); err != nil {
		return err
	}
	for {
		line, err := readLine(g)
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "* ") {
			continue
		}
		if strings.HasPrefix(line, "S0 OK") {
			return nil
		}
		// The server refused STARTTLS: going on in plain text is exactly
		// what security: starttls forbids.
		return &Error{Op: "starttls", Err: fmt.Errorf("server refused STARTTLS (%q); the server must offer STARTTLS; set security: tls or, on a trusted network only, none", line), Permanent: true}
	}
}

// readLine reads one short line without reading ahead.
func readLine(g *guard) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 64<<10 {
		if _, err := g.Read(one); err != nil {
			return "", err
		}
		b = append(b, one[0])
		if one[0] == '\n' {
			return strings.TrimRight(string(b), "\r\n"), nil
		}
	}
	return "", errors.New("server line too long before STARTTLS")
}

// greetedConn gives go-imap a greeting after STARTTLS, where the server
// sends none (RFC 3501 6.2.1); go-imap then asks for CAPABILITY again,
// as it must after TLS.
type greetedConn struct {
	net.Conn
	pending []byte
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
