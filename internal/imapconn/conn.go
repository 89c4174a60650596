package imapconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// Options describe one IMAP account's server and login.
type Options struct {
	Addr                  string      // host:port
	Security              string      // "tls" (default), "starttls", "none"
	TLSConfig             *tls.Config // nil: system roots, ServerName from Addr
	Timeout               time.Duration
	Username              string
	Auth                  string // "" (auto), "login", "plain", "xoauth2", "oauthbearer"
	Secret                func(ctx context.Context) (string, error)
	Trace                 io.Writer // protocol trace with credentials redacted; nil = none
	UnilateralDataHandler *imapclient.UnilateralDataHandler
	// WrapConn, if set, wraps the TCP connection (a rate limiter).
	WrapConn func(net.Conn) net.Conn
	// Release, if set, is called exactly once when the connection is
	// closed or Dial fails (a connection slot going back).
	Release func()
}

// Conn is a logged-in IMAP connection.
type Conn struct {
	*imapclient.Client
	dc      *deadlineConn
	stop    func() bool
	release func()
}

// Dial connects, secures and logs in. Cancelling ctx at any time, during
// Dial or later, closes the connection.
func Dial(ctx context.Context, o *Options) (c *Conn, err error) {
	release := onceFunc(o.Release)
	defer func() {
		if err != nil {
			release()
		}
	}()
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, &Error{Op: "dial", Err: err, Permanent: true}
	}
	d := net.Dialer{Timeout: o.Timeout}
	raw, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, &Error{Op: "connect to " + o.Addr, Err: err}
	}
	if o.WrapConn != nil {
		raw = o.WrapConn(raw)
	}
	dc := &deadlineConn{Conn: raw, timeout: o.Timeout}
	tcfg := o.TLSConfig.Clone()
	if tcfg == nil {
		tcfg = &tls.Config{}
	}
	if tcfg.ServerName == "" {
		tcfg.ServerName = host
	}
	opts := &imapclient.Options{TLSConfig: tcfg, UnilateralDataHandler: o.UnilateralDataHandler}
	red := &redactor{w: o.Trace}
	if o.Trace != nil {
		opts.DebugWriter = red
	}

	var conn net.Conn = dc
	stop := context.AfterFunc(ctx, func() { dc.Close() })
	fail := func(op string, err error) (*Conn, error) {
		stop()
		dc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, classify(op, err)
	}
	var ic *imapclient.Client
	switch o.Security {
	case "", "tls":
		tc := tls.Client(dc, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("tls handshake with "+o.Addr, err)
		}
		conn = tc
		ic = imapclient.New(conn, opts)
	case "starttls":
		ic, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			var ie *imap.Error
			if errors.As(err, &ie) || strings.Contains(err.Error(), "PREAUTH") {
				// The server refused STARTTLS: going on in plain text is
				// exactly what security: starttls forbids.
				err = &Error{Op: "starttls", Err: fmt.Errorf("%w (the server must offer STARTTLS; set security: tls or, on a trusted network only, none)", err), Permanent: true}
			}
			return fail("starttls with "+o.Addr, err)
		}
	case "none":
		ic = imapclient.New(conn, opts)
	default:
		stop()
		dc.Close()
		return nil, &Error{Op: "dial", Err: fmt.Errorf("unknown security %q", o.Security), Permanent: true}
	}
	if err := ic.WaitGreeting(); err != nil {
		return fail("greeting from "+o.Addr, err)
	}
	secret := ""
	if o.Secret != nil {
		secret, err = o.Secret(ctx)
		if err != nil {
			dc.Close()
			ic.Close()
			stop()
			return nil, &Error{Op: "get secret", Err: err, Permanent: true}
		}
	}
	red.setSecret(o.Username, secret)
	if err := login(ic, o, secret); err != nil {
		dc.Close()
		ic.Close()
		return fail("login as "+o.Username, err)
	}
	return &Conn{Client: ic, dc: dc, stop: stop, release: release}, nil
}

func onceFunc(f func()) func() {
	if f == nil {
		return func() {}
	}
	return sync.OnceFunc(f)
}

// Abort closes the TCP connection at once, without a word to the server:
// every pending read fails. Call Close afterwards as usual.
func (c *Conn) Abort() { c.dc.Close() }

// Close logs out politely when it can and closes the connection.
func (c *Conn) Close() error {
	if c == nil || c.Client == nil {
		return nil
	}
	defer c.release()
	c.stop()
	select {
	case <-c.Client.Closed():
	default:
		c.dc.timeoutOverride(5 * time.Second)
		c.Client.Logout().Wait()
	}
	c.dc.Close()
	return c.Client.Close()
}

// Broken reports whether the connection has been closed under us.
func (c *Conn) Broken() bool {
	select {
	case <-c.Client.Closed():
		return true
	default:
		return false
	}
}

func login(c *imapclient.Client, o *Options, secret string) error {
	if strings.ContainsAny(o.Username, "\r\n\x00") || strings.ContainsAny(secret, "\r\n\x00") {
		return &Error{Op: "login", Err: errors.New("user name or secret contains CR, LF or NUL; refusing to send it"), Permanent: true}
	}
	caps := c.Caps()
	mech := o.Auth
	if mech == "" {
		switch {
		case caps.Has(imap.AuthCap("PLAIN")):
			mech = "plain"
		default:
			mech = "login"
		}
	}
	var err error
	switch mech {
	case "login":
		if caps.Has(imap.CapLoginDisabled) {
			return &Error{Op: "login", Err: errors.New("server refuses LOGIN (LOGINDISABLED); use security: tls or starttls"), Permanent: true}
		}
		err = c.Login(o.Username, secret).Wait()
	case "plain":
		err = c.Authenticate(sasl.NewPlainClient("", o.Username, secret))
	case "xoauth2":
		err = c.Authenticate(&xoauth2{user: o.Username, token: secret})
	case "oauthbearer":
		host, port, _ := net.SplitHostPort(o.Addr)
		p := 0
		fmt.Sscan(port, &p)
		err = c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: o.Username, Token: secret, Host: host, Port: p}))
	default:
		return &Error{Op: "login", Err: fmt.Errorf("unknown auth mechanism %q", mech), Permanent: true}
	}
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			return &Error{Op: "login", Err: fmt.Errorf("authentication failed: %s", ie.Text), Permanent: true}
		}
		return err
	}
	return nil
}

// xoauth2 is the SASL mechanism Gmail and Microsoft 365 use (go-sasl has
// none): "user=" U ^A "auth=Bearer " T ^A ^A; an error challenge gets an
// empty answer so the server ends the exchange with NO.
type xoauth2 struct{ user, token string }

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) { return []byte{}, nil }

// deadlineConn puts a deadline on every read and write: a server that
// stops answering is an error after Timeout, never a hang. It ignores the
// deadlines go-imap sets, which wait forever for a response to begin.
type deadlineConn struct {
	net.Conn
	mu      sync.Mutex
	timeout time.Duration
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.mu.Lock()
	t := d.timeout
	d.mu.Unlock()
	d.Conn.SetReadDeadline(time.Now().Add(t))
	return d.Conn.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.mu.Lock()
	t := d.timeout
	d.mu.Unlock()
	d.Conn.SetWriteDeadline(time.Now().Add(t))
	return d.Conn.Write(p)
}

func (d *deadlineConn) timeoutOverride(t time.Duration) {
	d.mu.Lock()
	if t < d.timeout {
		d.timeout = t
	}
	d.mu.Unlock()
}

func (d *deadlineConn) SetDeadline(time.Time) error      { return nil }
func (d *deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (d *deadlineConn) SetWriteDeadline(time.Time) error { return nil }
