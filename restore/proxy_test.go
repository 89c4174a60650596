package restore

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// imapProxy sits between mailkeep and a test server and plays a server
// that throttles, refuses or loses answers, at the level of IMAP commands
// (internal/faultproxy works on byte counts).
type imapProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	appends int
	lines   []string // first line of every client command
	rules   proxyRules
}

type proxyRules struct {
	// onAppend sees every APPEND command line (n counts from 1); a
	// non-empty answer is sent instead of forwarding it ("NO [LIMIT] ...";
	// "BYE" closes the connection).
	onAppend func(n int, line string) string
	// onBody sees the message; a non-empty answer refuses it.
	onBody func(body []byte) string
	// loseAnswer: the server's answer to APPEND n is swallowed and the
	// connection closed, after the server stored the message.
	loseAnswer func(n int) bool
	// onCreate may refuse a CREATE.
	onCreate func(name string) string
	// addCaps is added to every capability list the client sees.
	addCaps string
}

func newProxy(t testing.TB, target string, rules proxyRules) *imapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &imapProxy{ln: ln, target: target, rules: rules}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *imapProxy) addr() string { return p.ln.Addr().String() }

func (p *imapProxy) commandLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

type pconn struct {
	p      *imapProxy
	c, s   net.Conn
	cr, sr *bufio.Reader
	wmu    sync.Mutex // writes to the client

	smu      sync.Mutex
	plus     chan bool // set while waiting for the server's "+"; true = got it
	loseTag  string
	closeOne sync.Once
}

func (p *imapProxy) serve(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	pc := &pconn{p: p, c: c, s: s, cr: bufio.NewReader(c), sr: bufio.NewReader(s)}
	go pc.serverToClient()
	pc.clientToServer()
}

func (pc *pconn) close() {
	pc.closeOne.Do(func() {
		pc.c.Close()
		pc.s.Close()
	})
}

var litRE = regexp.MustCompile(`\{(\d+)(\+?)\}\r?\n$`)

// literal returns the size of the literal announced at the end of line.
func literal(line string) (n int64, sync bool, ok bool) {
	m := litRE.FindStringSubmatch(line)
	if m == nil {
		return 0, false, false
	}
	n, _ = strconv.ParseInt(m[1], 10, 64)
	return n, m[2] == "", true
}

// readResponse reads one whole server response, literals included.
func readResponse(r *bufio.Reader) (string, []byte, error) {
	var all []byte
	first := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", nil, err
		}
		if first == "" {
			first = line
		}
		all = append(all, line...)
		n, _, ok := literal(line)
		if !ok {
			return first, all, nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", nil, err
		}
		all = append(all, buf...)
	}
}

func (pc *pconn) toClient(b []byte) error {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	_, err := pc.c.Write(b)
	return err
}

func (pc *pconn) serverToClient() {
	defer pc.close()
	for {
		first, all, err := readResponse(pc.sr)
		if err != nil {
			return
		}
		if strings.HasPrefix(first, "+") {
			pc.smu.Lock()
			ch := pc.plus
			pc.plus = nil
			pc.smu.Unlock()
			if ch != nil {
				ch <- true
				continue
			}
		}
		tag, _, _ := strings.Cut(first, " ")
		pc.smu.Lock()
		lose := pc.loseTag != "" && tag == pc.loseTag
		ch := pc.plus
		if ch != nil && tag != "*" {
			pc.plus = nil // the command was answered without "+"
		}
		pc.smu.Unlock()
		if lose {
			return
		}
		if ch != nil && tag != "*" {
			ch <- false
		}
		if add := pc.p.rules.addCaps; add != "" && strings.Contains(first, "CAPABILITY ") {
			all = []byte(strings.Replace(string(all), "CAPABILITY ", "CAPABILITY "+add+" ", 1))
		}
		if err := pc.toClient(all); err != nil {
			return
		}
	}
}

func (pc *pconn) clientToServer() {
	defer pc.close()
	rules := pc.p.rules
	for {
		line, err := pc.cr.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Fields(line)
		tag, cmd := "", ""
		if len(fields) >= 2 {
			tag, cmd = fields[0], strings.ToUpper(fields[1])
		}
		pc.p.mu.Lock()
		pc.p.lines = append(pc.p.lines, strings.TrimRight(line, "\r\n"))
		n := 0
		if cmd == "APPEND" {
			pc.p.appends++
			n = pc.p.appends
		}
		pc.p.mu.Unlock()
		size, sync, hasLit := literal(line)

		if cmd == "CREATE" && rules.onCreate != nil && len(fields) >= 3 {
			name := strings.Trim(strings.Join(fields[2:], " "), "\"")
			if ans := rules.onCreate(name); ans != "" {
				if pc.toClient([]byte(tag+" "+ans+"\r\n")) != nil {
					return
				}
				continue
			}
		}
		if cmd == "APPEND" && hasLit {
			if rules.onAppend != nil {
				if ans := rules.onAppend(n, line); ans != "" {
					if ans == "BYE" {
						pc.toClient([]byte("* BYE going away\r\n"))
						return
					}
					if pc.toClient([]byte(tag+" "+ans+"\r\n")) != nil {
						return
					}
					if !sync {
						// A non-synchronizing body follows whatever we say.
						io.CopyN(io.Discard, pc.cr, size)
						pc.cr.ReadString('\n')
					}
					continue
				}
			}
			lose := rules.loseAnswer != nil && rules.loseAnswer(n)
			if rules.onBody != nil || lose {
				if sync && pc.toClient([]byte("+ go ahead\r\n")) != nil {
					return
				}
				body := make([]byte, size)
				if _, err := io.ReadFull(pc.cr, body); err != nil {
					return
				}
				rest, err := pc.cr.ReadString('\n')
				if err != nil {
					return
				}
				if rules.onBody != nil {
					if ans := rules.onBody(body); ans != "" {
						if pc.toClient([]byte(tag+" "+ans+"\r\n")) != nil {
							return
						}
						continue
					}
				}
				ch := make(chan bool, 1)
				pc.smu.Lock()
				pc.plus = ch
				if lose {
					pc.loseTag = tag
				}
				pc.smu.Unlock()
				fwd := line
				if !sync {
					fwd = strings.Replace(line, "+}", "}", 1)
				}
				if _, err := pc.s.Write([]byte(fwd)); err != nil {
					return
				}
				if !<-ch {
					continue
				}
				if _, err := pc.s.Write(append(body, rest...)); err != nil {
					return
				}
				continue
			}
		}
		if _, err := pc.s.Write([]byte(line)); err != nil {
			return
		}
		for hasLit {
			if _, err := io.CopyN(pc.s, pc.cr, size); err != nil {
				return
			}
			more, err := pc.cr.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := pc.s.Write([]byte(more)); err != nil {
				return
			}
			size, _, hasLit = literal(more)
		}
	}
}
