package serve

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailkeep/mailkeep/archive"
)

// Options configure a Server.
type Options struct {
	Repo *archive.Repo
	// Account, if set, serves only that account's folders, at the top
	// level (INBOX as INBOX); otherwise every account's, as ACCOUNT/FOLDER.
	Account  string
	Username string
	Password string
	// TLS, if set, makes every connection implicit TLS (as on port 993).
	// Without it connections are plain: the CLI allows that on loopback
	// only.
	TLS *tls.Config
	Log *slog.Logger
}

// Server is a read-only IMAP server over an archive.
type Server struct {
	opts  Options
	imap  *imapserver.Server
	mu    sync.Mutex
	ln    []net.Listener
	idKey string // the archive's identity, for UIDVALIDITY
}

// New makes a server; Serve runs it.
func New(opts *Options) *Server {
	s := &Server{opts: *opts}
	if s.opts.Log == nil {
		s.opts.Log = slog.New(slog.DiscardHandler)
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{srv: s, remote: c.NetConn().RemoteAddr().String()}, nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapLiteralPlus: {}},
		// imapserver tells TLS by a type assertion on its net.Conn, which
		// the READ-ONLY rewrite below wraps: so STARTTLS is not offered,
		// TLS is implicit on every connection or on none, and LOGIN is
		// allowed on what the listener gives (TLS, or loopback).
		InsecureAuth: true,
		Logger:       logger{s.opts.Log},
	})
	return s
}

type logger struct{ l *slog.Logger }

func (l logger) Printf(format string, args ...any) { l.l.Warn(fmt.Sprintf(format, args...)) }

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	id, err := s.opts.Repo.ArchiveID(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.idKey = id
	s.ln = append(s.ln, ln)
	s.mu.Unlock()
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	err = s.imap.Serve(&rewriteListener{Listener: ln})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Close stops accepting and closes every connection.
func (s *Server) Close() error { return s.imap.Close() }

func (s *Server) checkLogin(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password))
	return u&p == 1 && s.opts.Password != ""
}

// rewriteListener hands out connections whose writes say [READ-ONLY] where
// imapserver says [READ-WRITE]: imapserver answers every SELECT with
// READ-WRITE and gives the backend no way to say otherwise (RFC 3501
// 6.3.1: a server may answer SELECT with READ-ONLY).
type rewriteListener struct{ net.Listener }

func (l *rewriteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rewriteConn{Conn: c}, nil
}

type rewriteConn struct{ net.Conn }

var (
	readWrite = []byte(" OK [READ-WRITE] SELECT completed\r\n")
	readOnly  = []byte(" OK [READ-ONLY] SELECT completed\r\n")
)

func (c *rewriteConn) Write(b []byte) (int, error) {
	if i := bytes.Index(b, readWrite); i >= 0 {
		out := make([]byte, 0, len(b))
		out = append(append(append(out, b[:i]...), readOnly...), b[i+len(readWrite):]...)
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}
