package pop3srv

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
)

// Options configures a Server. The zero value (or nil) gives a plain
// server on 127.0.0.1 with CAPA, USER, UIDL, TOP and PIPELINING.
type Options struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string

	DisableCAPA       bool // answer CAPA with -ERR, as RFC 1939 servers do
	DisableUIDL       bool // no UIDL command
	DisablePipelining bool // do not advertise PIPELINING
	DisableUSER       bool // no USER/PASS (then only APOP or SASL log in)

	STLS        bool     // offer STLS on the plain listener
	ImplicitTLS bool     // the listener speaks TLS from the first byte
	APOP        bool     // put a timestamp in the greeting and accept APOP
	SASL        []string // AUTH mechanisms: "PLAIN", "XOAUTH2", "OAUTHBEARER"

	Hooks Hooks
}

// Hooks script misbehaviour. Every field may be nil. Hooks are called
// from connection goroutines, possibly concurrently.
type Hooks struct {
	// Command is called before each command is handled, and with Verb ""
	// before the greeting. A non-nil *Fault changes what happens.
	Command func(c Call) *Fault
	// Size returns the size that LIST and STAT report for message num
	// (1-based) whose stored size is size.
	Size func(user string, num int, size int64) int64
	// UID returns the UIDL sent for message num; login counts this
	// user's successful logins, from 1, so a UID can change between
	// sessions.
	UID func(user string, login int, num int, uid string) string
}

// Call describes a command about to be handled.
type Call struct {
	Conn  int      // connection number on this server, from 1
	User  string   // the logged-in user, or the name given to USER/APOP/AUTH so far
	Login int      // the user's login number (Hooks.UID), 0 before login
	Verb  string   // upper case; "" for the greeting
	Args  []string // arguments as received
	Num   int      // first argument as a message number, 0 if none
}

// Fault replaces the normal handling of one command.
type Fault struct {
	// Err, if set, is sent as "-ERR " + Err instead of handling the
	// command (e.g. "[SYS/TEMP] try later"). For PASS, APOP and AUTH it
	// fails the login; for QUIT it removes nothing and closes.
	Err string
	// Drop closes the connection; Stall stops responding (reading and
	// discarding input until the client or Close ends the connection).
	// With AfterBytes > 0, the normal response is sent up to that many
	// bytes (status line included) first, then the connection is
	// dropped (or stalls, with Stall).
	Drop       bool
	Stall      bool
	AfterBytes int64
}

// Message is a stored message.
type Message struct {
	UID  string
	Data []byte
}

type message struct {
	uid  string
	data []byte
}

type mailbox struct {
	pass   string
	msgs   []*message
	locked bool
	logins int
}

// Server is a running POP3 server.
type Server struct {
	opts    Options
	ln      net.Listener
	tlsConf *tls.Config
	pool    *x509.CertPool

	mu      sync.Mutex
	users   map[string]*mailbox
	conns   map[net.Conn]struct{}
	nconn   int
	cmdlog  []string
	closed  bool
	wg      sync.WaitGroup
	closeCh chan struct{}
}

// Start listens and serves in the background until Close.
func Start(opts *Options) (*Server, error) {
	s := &Server{
		users:   map[string]*mailbox{},
		conns:   map[net.Conn]struct{}{},
		closeCh: make(chan struct{}),
	}
	if opts != nil {
		s.opts = *opts
		s.opts.SASL = append([]string(nil), opts.SASL...)
	}
	for i, m := range s.opts.SASL {
		s.opts.SASL[i] = strings.ToUpper(m)
	}
	if s.opts.STLS || s.opts.ImplicitTLS {
		cert, pool, err := newCert()
		if err != nil {
			return nil, fmt.Errorf("pop3srv: certificate: %w", err)
		}
		s.pool = pool
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	addr := s.opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pop3srv: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the listening address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CertPool returns a pool holding the server's self-signed certificate,
// or nil when neither STLS nor ImplicitTLS is on.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// ClientTLSConfig returns a client configuration that trusts the server.
func (s *Server) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Close stops the listener, ends every connection (without applying
// their deletions) and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closeCh)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.nconn++
		id := s.nconn
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				conn.Close()
			}()
			var c net.Conn = conn
			if s.opts.ImplicitTLS {
				c = tls.Server(conn, s.tlsConf)
			}
			newSession(s, c, id).run()
		}()
	}
}

// AddUser creates a user (or changes the password of one). The password
// is also the token for XOAUTH2 and OAUTHBEARER.
func (s *Server) AddUser(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.users[name]; mb != nil {
		mb.pass = password
		return
	}
	s.users[name] = &mailbox{pass: password}
}

// AddMessage appends a message to a user's maildrop (creating the user
// with an empty password if needed). data is kept, not copied: do not
// change it afterwards. Sessions already logged in do not see it.
func (s *Server) AddMessage(user, uid string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.users[user]
	if mb == nil {
		mb = &mailbox{}
		s.users[user] = mb
	}
	mb.msgs = append(mb.msgs, &message{uid: uid, data: data})
}

// Maildrop returns the messages a user has now, in order.
func (s *Server) Maildrop(user string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.users[user]
	if mb == nil {
		return nil
	}
	out := make([]Message, len(mb.msgs))
	for i, m := range mb.msgs {
		out[i] = Message{UID: m.uid, Data: m.data}
	}
	return out
}

// Commands returns every line received so far by any connection, in
// order, without line endings. It includes passwords and SASL responses
// verbatim: this is a test server.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmdlog...)
}

func (s *Server) logLine(line string) {
	s.mu.Lock()
	s.cmdlog = append(s.cmdlog, line)
	s.mu.Unlock()
}

// lock takes the maildrop of user for a session after checking the
// password. It returns the snapshot of messages and the login number.
func (s *Server) lock(user string, check func(pass string) bool) (msgs []*message, login int, resp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.users[user]
	if mb == nil || !check(mb.pass) {
		return nil, 0, "[AUTH] invalid user name or password"
	}
	if mb.locked {
		return nil, 0, "[IN-USE] maildrop already locked by another session"
	}
	mb.locked = true
	mb.logins++
	return append([]*message(nil), mb.msgs...), mb.logins, ""
}

// unlock releases a maildrop, removing the deleted messages if commit.
func (s *Server) unlock(user string, deleted map[*message]bool, commit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.users[user]
	if mb == nil {
		return
	}
	mb.locked = false
	if !commit || len(deleted) == 0 {
		return
	}
	kept := mb.msgs[:0:0]
	for _, m := range mb.msgs {
		if !deleted[m] {
			kept = append(kept, m)
		}
	}
	mb.msgs = kept
}
