package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Action is what a fault does when its byte count is reached.
type Action int

const (
	// Stall stops forwarding (the connection stays open) until Release,
	// Clear, Set or Close.
	Stall Action = iota + 1
	// Drop closes both sides of the connection.
	Drop
	// Inject writes Fault.Line to the client right after the next complete
	// untagged ("* ...") IMAP response, literals taken into account, and
	// goes on forwarding. Server-to-client only.
	Inject
)

func (a Action) String() string {
	switch a {
	case Stall:
		return "stall"
	case Drop:
		return "drop"
	case Inject:
		return "inject"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Direction says which way a fault counts and acts.
type Direction int

const (
	ServerToClient Direction = iota // the default
	ClientToServer
)

// Fault describes one fault. The zero Direction is server to client.
type Fault struct {
	Action    Action
	Direction Direction
	// After is how many bytes are forwarded before the fault acts: the
	// fault cuts a read at exactly that byte.
	After int64
	// Line is what Inject sends; CRLF is added if missing.
	Line string
	// Count limits how many times the fault acts over all connections
	// (each connection at most once); 0 means no limit.
	Count int
}

// Stats counts what went through the proxy.
type Stats struct {
	Accepted      int   // connections accepted, refused ones included
	Refused       int   // closed at once by Refuse
	Active        int   // open now
	Stalled       int   // stalled now
	Fired         int   // faults acted
	ToClient      int64 // bytes forwarded from the server, injections excluded
	ToServer      int64 // bytes forwarded from the client
	InjectedLines int
}

// Proxy forwards connections to a target address, with faults.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup
	ctx    context.Context // cancelled by Close, for dialling
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	refuse  bool
	fault   *armed
	conns   map[*conn]struct{}
	release chan struct{} // closed to let stalled connections go on
	stats   Stats

	stalledOnce sync.Once
	stalledCh   chan struct{} // closed when a connection first stalls
}

// armed is a fault set by Set; a new one for every Set.
type armed struct {
	Fault
	fired int
}

// New listens on a free port of 127.0.0.1 and forwards every connection to
// target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ctx:     ctx,
		cancel:  cancel,
		target:  target,
		ln:      ln,
		conns:   make(map[*conn]struct{}),
		release: make(chan struct{}),

		stalledCh: make(chan struct{}),
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Stalled is closed when a connection first stalls: tests wait on it
// instead of polling Stats.
func (p *Proxy) Stalled() <-chan struct{} { return p.stalledCh }

// Addr is the proxy's address, for clients to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set arms f on open connections (its bytes counted from now) and on new
// ones, replacing any earlier fault and letting stalled connections go on.
func (p *Proxy) Set(f Fault) error {
	switch {
	case f.Action < Stall || f.Action > Inject:
		return fmt.Errorf("faultproxy: unknown action %v", f.Action)
	case f.Action == Inject && f.Direction != ServerToClient:
		return errors.New("faultproxy: inject works server to client only")
	case f.After < 0:
		return errors.New("faultproxy: negative byte count")
	}
	if f.Action == Inject && (len(f.Line) < 2 || f.Line[len(f.Line)-2:] != "\r\n") {
		f.Line += "\r\n"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked()
	a := &armed{Fault: f}
	p.fault = a
	for c := range p.conns {
		c.armLocked(a)
	}
	return nil
}

// StallAfter stalls server-to-client traffic on every connection after n
// more bytes.
func (p *Proxy) StallAfter(n int64) { p.Set(Fault{Action: Stall, After: n}) }

// DropAfter drops every connection after n more server-to-client bytes.
func (p *Proxy) DropAfter(n int64) { p.Set(Fault{Action: Drop, After: n}) }

// InjectAfter sends line to the client after the first complete untagged
// response that ends once n more server-to-client bytes have passed.
func (p *Proxy) InjectAfter(n int64, line string) {
	p.Set(Fault{Action: Inject, After: n, Line: line})
}

// Clear disarms the fault and releases stalled connections.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = nil
	for c := range p.conns {
		c.armLocked(nil)
	}
	p.releaseLocked()
}

// Release lets stalled connections go on; the fault stays armed for
// connections it has not acted on.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked()
}

func (p *Proxy) releaseLocked() {
	close(p.release)
	p.release = make(chan struct{})
}

// Refuse makes the proxy close new connections as soon as they arrive
// (true) or forward them again (false).
func (p *Proxy) Refuse(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
}

// DropAll closes every open connection now.
func (p *Proxy) DropAll() {
	p.mu.Lock()
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Active = len(p.conns)
	for c := range p.conns {
		if c.stalled {
			s.Stalled++
		}
	}
	return s
}

// Close stops listening, closes every connection and waits for all of the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.releaseLocked()
	p.mu.Unlock()
	p.cancel()
	err := p.ln.Close()
	p.DropAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		p.stats.Accepted++
		if p.refuse || p.closed {
			p.stats.Refused++
			p.mu.Unlock()
			client.Close()
			continue
		}
		c := &conn{p: p, client: client, done: make(chan struct{})}
		c.armLocked(p.fault)
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

// conn is one proxied connection.
type conn struct {
	p      *Proxy
	client net.Conn
	server net.Conn // set by run before the pumps start
	once   sync.Once
	done   chan struct{}

	// Guarded by p.mu.
	fault   *armed
	base    [2]int64 // bytes forwarded per direction when fault was armed
	sent    [2]int64
	stalled bool
}

func (c *conn) armLocked(a *armed) {
	c.fault = a
	c.base = c.sent
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.p.mu.Lock()
		server := c.server
		c.p.mu.Unlock()
		if server != nil {
			server.Close()
		}
	})
}

func (c *conn) run() {
	defer c.p.wg.Done()
	defer func() {
		c.close()
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	}()
	d := net.Dialer{Timeout: 10 * time.Second}
	server, err := d.DialContext(c.p.ctx, "tcp", c.p.target)
	if err != nil {
		return
	}
	c.p.mu.Lock()
	c.server = server
	c.p.mu.Unlock()
	select {
	case <-c.done: // closed while dialling
		server.Close()
		return
	default:
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.pump(ClientToServer, c.client, server, nil)
		c.close()
	}()
	c.pump(ServerToClient, server, c.client, &scanner{})
	c.close()
	wg.Wait()
}

// pump forwards one direction until an error, applying the fault.
func (c *conn) pump(dir Direction, from, to net.Conn, sc *scanner) {
	buf := make([]byte, 32*1024)
	injectPending := ""
	for {
		n, rerr := from.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			limit, f := c.plan(dir, len(data))
			chunk := data[:limit]
			if sc != nil && injectPending != "" {
				// Forward up to the end of the next untagged response.
				if k := sc.untaggedEnd(chunk); k >= 0 {
					if !c.forward(dir, to, chunk[:k]) || !c.inject(to, injectPending) {
						return
					}
					injectPending = ""
					data = data[k:]
					continue
				}
			} else if sc != nil {
				sc.feed(chunk)
			}
			if !c.forward(dir, to, chunk) {
				return
			}
			data = data[limit:]
			if f == nil {
				continue
			}
			switch f.Action {
			case Drop:
				return
			case Stall:
				if !c.stall() {
					return
				}
			case Inject:
				injectPending = f.Line
				if sc.atUntaggedEnd() {
					// The point fell right after an untagged response.
					if !c.inject(to, injectPending) {
						return
					}
					injectPending = ""
				}
			}
		}
		if rerr != nil {
			return
		}
	}
}

// plan returns how many of the next n bytes may go before the fault acts,
// and the fault if it acts right after them.
func (c *conn) plan(dir Direction, n int) (int, *armed) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	f := c.fault
	if f == nil || f.Direction != dir || (f.Count > 0 && f.fired >= f.Count) {
		return n, nil
	}
	room := f.After - (c.sent[dir] - c.base[dir])
	if room < 0 {
		room = 0
	}
	if room > int64(n) {
		return n, nil
	}
	// The fault acts once per connection.
	f.fired++
	c.fault = nil
	c.p.stats.Fired++
	return int(room), f
}

// forward counts the bytes before writing them, as inject does: what the
// other side answers to them (an echo) must not be in Stats before they
// are.
func (c *conn) forward(dir Direction, to net.Conn, b []byte) bool {
	if len(b) == 0 {
		return true
	}
	c.count(dir, int64(len(b)))
	if _, err := to.Write(b); err != nil {
		c.count(dir, -int64(len(b)))
		return false
	}
	return true
}

func (c *conn) count(dir Direction, n int64) {
	c.p.mu.Lock()
	c.sent[dir] += n
	if dir == ServerToClient {
		c.p.stats.ToClient += n
	} else {
		c.p.stats.ToServer += n
	}
	c.p.mu.Unlock()
}

// inject counts the line before writing it: a client that has read it
// (and closed because of it) must find it in Stats already.
func (c *conn) inject(to net.Conn, line string) bool {
	c.p.mu.Lock()
	c.p.stats.InjectedLines++
	c.p.mu.Unlock()
	if _, err := io.WriteString(to, line); err != nil {
		c.p.mu.Lock()
		c.p.stats.InjectedLines--
		c.p.mu.Unlock()
		return false
	}
	return true
}

// stall waits until released; false if the connection closed meanwhile.
func (c *conn) stall() bool {
	c.p.mu.Lock()
	c.stalled = true
	release := c.p.release
	c.p.mu.Unlock()
	c.p.stalledOnce.Do(func() { close(c.p.stalledCh) })
	defer func() {
		c.p.mu.Lock()
		c.stalled = false
		c.p.mu.Unlock()
	}()
	select {
	case <-release:
		select {
		case <-c.done:
			return false
		default:
			return true
		}
	case <-c.done:
		return false
	}
}
