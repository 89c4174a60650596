package imapsrv

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Options configures a Server. The zero value offers every extension over a
// plain listener with no APPEND limit.
type Options struct {
	// Extensions to switch off, so that tests can take the paths of a
	// client facing a server without them.
	DisableUIDPlus    bool
	DisableMove       bool
	DisableSpecialUse bool // also CREATE-SPECIAL-USE; LIST shows no roles
	DisableCondStore  bool
	DisableListStatus bool

	// AppendLimit, if not 0, is the largest message APPEND accepts; it is
	// advertised as APPENDLIMIT and larger ones get NO [TOOBIG]. With 0
	// nothing is advertised and go-imap's own limit (100 MiB) applies.
	AppendLimit uint32

	// TLS makes Listen serve implicit TLS; StartTLS offers STARTTLS on a
	// plain listener. Both use a self-signed certificate made by New for
	// 127.0.0.1, ::1 and localhost (see CertPool and ClientTLSConfig).
	TLS      bool
	StartTLS bool

	// Logger receives the server's errors at debug level; nil discards
	// them.
	Logger *slog.Logger
	// Trace, if not nil, receives every byte read from and written to
	// clients as they are on the wire (inside TLS), credentials and
	// messages included.
	Trace io.Writer
}

// Server is an in-process IMAP server whose messages are served exactly as
// stored. It is safe for concurrent use.
type Server struct {
	opts    Options
	imap    *imapserver.Server
	tlsCert *tls.Certificate
	certPEM []byte
	pool    *x509.CertPool
	logger  *slog.Logger
	capSet  imap.CapSet
	trace   io.Writer // Options.Trace, safe for both directions

	mu      sync.RWMutex
	users   map[string]*user
	changed chan struct{}
	acl     aclState // namespaces and rights (acl.go)

	connMu   sync.Mutex
	conns    map[*wireConn]struct{}
	ln       net.Listener
	serveErr chan error
	closed   bool
	connWG   sync.WaitGroup
}

// New returns a server with no users. It panics only if it cannot make the
// TLS certificate asked for.
func New(opts *Options) *Server {
	s := &Server{
		users:   make(map[string]*user),
		changed: make(chan struct{}),
		conns:   make(map[*wireConn]struct{}),
	}
	if opts != nil {
		s.opts = *opts
	}
	s.logger = s.opts.Logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.opts.TLS || s.opts.StartTLS {
		cert, certPEM, err := selfSignedCert()
		if err != nil {
			panic(fmt.Sprintf("imapsrv: certificate: %v", err))
		}
		s.tlsCert = cert
		s.certPEM = certPEM
		s.pool = x509.NewCertPool()
		s.pool.AppendCertsFromPEM(certPEM)
	}
	s.capSet = s.caps()
	if s.opts.Trace != nil {
		s.trace = &lockedWriter{w: s.opts.Trace}
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         s.capSet,
		Logger:       logAdapter{s.logger},
		InsecureAuth: true, // TLS, if any, is below the wire layer
	})
	return s
}

func (s *Server) caps() imap.CapSet {
	caps := imap.CapSet{
		imap.CapIMAP4rev1:      {},
		imap.CapNamespace:      {},
		imap.CapListExtended:   {},
		imap.CapBinary:         {},
		imap.CapChildren:       {},
		imap.CapStatusSize:     {},
		imap.CapUnauthenticate: {},
	}
	if !s.opts.DisableUIDPlus {
		caps[imap.CapUIDPlus] = struct{}{}
	}
	if !s.opts.DisableMove {
		caps[imap.CapMove] = struct{}{}
	}
	if !s.opts.DisableSpecialUse {
		caps[imap.CapSpecialUse] = struct{}{}
		caps[imap.CapCreateSpecialUse] = struct{}{}
	}
	if !s.opts.DisableListStatus {
		caps[imap.CapListStatus] = struct{}{}
	}
	return caps
}

func (s *Server) has(c imap.Cap) bool {
	if c == imap.CapCondStore {
		return !s.opts.DisableCondStore
	}
	_, ok := s.capSet[c]
	return ok
}

// Start listens on a free port of 127.0.0.1.
func (s *Server) Start() error { return s.Listen("127.0.0.1:0") }

// Listen listens on addr and serves connections until Close. A server
// listens on one address.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("imapsrv: listen: %w", err)
	}
	s.connMu.Lock()
	if s.closed || s.ln != nil {
		s.connMu.Unlock()
		ln.Close()
		return errors.New("imapsrv: server closed or already listening")
	}
	s.ln = ln
	s.serveErr = make(chan error, 1)
	s.connMu.Unlock()
	go func() { s.serveErr <- s.imap.Serve(&listener{Listener: ln, srv: s}) }()
	return nil
}

// Addr returns the listening address ("127.0.0.1:port"), or "" before
// Listen.
func (s *Server) Addr() string {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening, drops every connection and waits (up to ten
// seconds) for their sessions to end.
func (s *Server) Close() error {
	s.connMu.Lock()
	if s.closed {
		s.connMu.Unlock()
		return nil
	}
	s.closed = true
	listening := s.ln != nil
	s.connMu.Unlock()

	var err error
	if listening {
		err = s.imap.Close()
		<-s.serveErr
	}
	s.connMu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()

	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return errors.New("imapsrv: close: sessions still running after 10s")
	}
	return err
}

// CertPool holds the server's certificate, for clients to verify it; nil
// unless Options.TLS or Options.StartTLS.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// CertPEM is the server's certificate in PEM form (nil without TLS).
func (s *Server) CertPEM() []byte { return s.certPEM }

// ClientTLSConfig returns a client configuration that trusts the server's
// certificate (nil without TLS).
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.pool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}

func (s *Server) serverTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{*s.tlsCert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"imap"},
	}
}

// listener wraps accepted connections in the wire layer.
type listener struct {
	net.Listener
	srv *Server
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := l.srv
		var transport net.Conn = c
		tlsDone := false
		if s.opts.TLS {
			transport = tls.Server(c, s.serverTLSConfig())
			tlsDone = true
		}
		wc := newWireConn(s, transport, tlsDone)
		s.connMu.Lock()
		if s.closed {
			s.connMu.Unlock()
			c.Close()
			continue
		}
		s.conns[wc] = struct{}{}
		s.connWG.Add(1)
		s.connMu.Unlock()
		return wc, nil
	}
}

func (s *Server) connClosed(wc *wireConn) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if _, ok := s.conns[wc]; ok {
		delete(s.conns, wc)
		s.connWG.Done()
	}
}

type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, args ...any) {
	a.l.Debug("imapsrv: " + fmt.Sprintf(format, args...))
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
