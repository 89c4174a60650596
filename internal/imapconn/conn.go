package imapconn

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// Options describe one IMAP account's server and login.
type Options struct {
	Addr      string      // host:port
	Security  string      // "tls" (default), "starttls", "none"
	TLSConfig *tls.Config // nil: system roots, ServerName from Addr
	// Timeout bounds connecting and each server response (see guard); 0
	// means 60s.
	Timeout  time.Duration
	Username string
	Auth     string // "" (auto), "login", "plain", "xoauth2", "oauthbearer"
	Secret   func(ctx context.Context) (string, error)
	Trace    io.Writer // protocol trace with credentials redacted; nil = none
	// MaxMessageSize refuses a message body larger than this many bytes
	// (max_message_size); 0 means no limit.
	MaxMessageSize int64
	// MaxLine bounds a response line; 0 means DefaultMaxLine.
	MaxLine               int64
	UnilateralDataHandler *imapclient.UnilateralDataHandler
	// WrapConn, if set, wraps the TCP connection (a rate limiter).
	WrapConn func(net.Conn) net.Conn
	// Release, if set, is called exactly once when the connection is
	// closed or Dial fails (a connection slot going back).
	Release func()
	// Clock replaces time.Now for response deadlines (tests).
	Clock func() time.Time
}

func (o *Options) withDefaults() *Options {
	c := *o
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	return &c
}

// Conn is a logged-in IMAP connection.
type Conn struct {
	*imapclient.Client
	tr      *transport
	stop    func() bool
	release func()
	stray   *atomic.Pointer[func(seq, uid uint32)]
}

// Dial connects, secures and logs in. Cancelling ctx at any time, during
// Dial or later, closes the connection.
func Dial(ctx context.Context, opt *Options) (c *Conn, err error) {
	release := onceFunc(opt.Release)
	defer func() {
		if err != nil {
			release()
		}
	}()
	o := opt.withDefaults()
	tr, err := dialTransport(ctx, o)
	if err != nil {
		return nil, err
	}
	stray := new(atomic.Pointer[func(seq, uid uint32)])
	opts := &imapclient.Options{UnilateralDataHandler: strayHandler(o.UnilateralDataHandler, stray)}
	red := &redactor{w: o.Trace}
	if o.Trace != nil {
		opts.DebugWriter = red
	}
	var conn net.Conn = tr.g
	if tr.greeted {
		conn = &greetedConn{Conn: tr.g, pending: []byte("* OK TLS started\r\n")}
	}
	stop := context.AfterFunc(ctx, func() { tr.raw.Close() })
	ic := imapclient.New(conn, opts)
	fail := func(op string, err error) (*Conn, error) {
		stop()
		tr.raw.Close()
		ic.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if gerr := tr.g.failure(); gerr != nil {
			err = gerr
		}
		return nil, classify(op, err)
	}
	if err := ic.WaitGreeting(); err != nil {
		return fail("greeting from "+o.Addr, err)
	}
	secret := ""
	if o.Secret != nil {
		secret, err = o.Secret(ctx)
		if err != nil {
			fail("get secret", err)
			return nil, &Error{Op: "get secret", Err: err, Permanent: true}
		}
	}
	red.setSecret(o.Username, secret)
	if err := login(ic, o, secret); err != nil {
		return fail("login as "+o.Username, err)
	}
	return &Conn{Client: ic, tr: tr, stop: stop, release: release, stray: stray}, nil
}

// strayHandler hears of FETCH responses no command asked for. go-imap
// drops a UID FETCH response whose UID was not asked for, came already,
// or is missing (it looks for the UID before the first literal); one
// that carries a body is a server getting UIDs wrong, and whoever is
// fetching is told (OnStrayFetch). Flag updates from other clients are
// normal and pass unnoticed.
func strayHandler(h *imapclient.UnilateralDataHandler, stray *atomic.Pointer[func(seq, uid uint32)]) *imapclient.UnilateralDataHandler {
	out := &imapclient.UnilateralDataHandler{}
	if h != nil {
		*out = *h
	}
	if out.Fetch != nil {
		return out
	}
	out.Fetch = func(msg *imapclient.FetchMessageData) {
		var uid uint32
		body := false
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch d := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(d.UID)
			case imapclient.FetchItemDataBodySection:
				body = true
				if d.Literal != nil {
					io.Copy(io.Discard, d.Literal)
				}
			}
		}
		if f := stray.Load(); body && f != nil {
			(*f)(msg.SeqNum, uid)
		}
	}
	return out
}

// OnStrayFetch sets (nil: removes) what is called, on another goroutine,
// for each message body the server sends that no FETCH asked for.
func (c *Conn) OnStrayFetch(f func(seq, uid uint32)) {
	if f == nil {
		c.stray.Store(nil)
		return
	}
	c.stray.Store(&f)
}

func onceFunc(f func()) func() {
	if f == nil {
		return func() {}
	}
	return sync.OnceFunc(f)
}

// Abort closes the TCP connection at once, without a word to the server:
// every pending read fails. Call Close afterwards as usual.
func (c *Conn) Abort() { c.tr.raw.Close() }

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
		c.tr.g.shorten(5 * time.Second)
		c.Client.Logout().Wait()
	}
	c.tr.raw.Close()
	return c.Client.Close()
}

// Broken reports whether the connection has been closed under us.
func (c *Conn) Broken() bool {
	if c == nil || c.Client == nil {
		return true
	}
	select {
	case <-c.Client.Closed():
		return true
	default:
		return false
	}
}

// Err returns the reason the connection's guard broke the stream (a
// response over a limit, or late) in place of err, which go-imap reports
// only as text; otherwise err itself.
func (c *Conn) Err(err error) error {
	if err == nil || c == nil || c.tr == nil {
		return err
	}
	if gerr := c.tr.g.failure(); gerr != nil && !errors.Is(err, gerr) {
		return gerr
	}
	return err
}
