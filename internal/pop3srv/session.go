package pop3srv

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

const maxLine = 64 << 10

type session struct {
	srv  *Server
	conn net.Conn
	id   int
	br   *bufio.Reader
	bw   *bufio.Writer
	out  io.Writer // bw, or a cutWriter while a fault cuts a response
	ts   string    // APOP timestamp
	tls  bool

	userArg string // name given to USER
	user    string // logged-in user; "" in AUTHORIZATION state
	login   int
	msgs    []*message
	deleted map[*message]bool
	quit    bool
}

func newSession(s *Server, conn net.Conn, id int) *session {
	ss := &session{srv: s, id: id}
	ss.setConn(conn)
	_, ss.tls = conn.(*tls.Conn)
	if s.opts.APOP {
		ss.ts = fmt.Sprintf("<%d.%d@pop3srv.mailkeep.test>", id, time.Now().UnixNano())
	}
	return ss
}

func (ss *session) setConn(conn net.Conn) {
	ss.conn = conn
	ss.br = bufio.NewReaderSize(conn, 4096)
	ss.bw = bufio.NewWriterSize(conn, 64<<10)
	ss.out = ss.bw
}

func (ss *session) run() {
	defer func() {
		if ss.user != "" {
			ss.srv.unlock(ss.user, ss.deleted, false)
		}
	}()
	if tc, ok := ss.conn.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.SetDeadline(time.Time{})
	}
	greeting := "+OK mailkeep pop3srv ready"
	if ss.ts != "" {
		greeting += " " + ss.ts
	}
	if !ss.step(Call{Conn: ss.id}, func() error { return ss.reply(greeting) }) {
		return
	}
	for {
		if ss.br.Buffered() == 0 {
			// Pipelined commands are answered in one write.
			if ss.bw.Flush() != nil {
				return
			}
		}
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, rest, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		args := strings.Fields(rest)
		if verb == "PASS" {
			args = []string{rest} // RFC 1939: the password may contain spaces
		}
		call := Call{Conn: ss.id, User: ss.user, Login: ss.login, Verb: verb, Args: args}
		if call.User == "" {
			call.User = ss.userArg
			if (verb == "APOP" || verb == "USER") && len(args) > 0 {
				call.User = args[0]
			}
		}
		if len(args) > 0 {
			call.Num, _ = strconv.Atoi(args[0])
		}
		if !ss.step(call, func() error { return ss.handle(verb, args) }) {
			return
		}
	}
}

// errCut ends a response that a Fault cuts short.
var errCut = errors.New("response cut by fault")

type cutWriter struct {
	w io.Writer
	n int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= c.n {
		c.n -= int64(len(p))
		return c.w.Write(p)
	}
	m, err := c.w.Write(p[:c.n])
	c.n = 0
	if err == nil {
		err = errCut
	}
	return m, err
}

// step runs one command (or the greeting), applying a Fault if the hook
// returns one. It reports whether the session goes on.
func (ss *session) step(call Call, normal func() error) bool {
	var f *Fault
	if h := ss.srv.opts.Hooks.Command; h != nil {
		f = h(call)
	}
	if f == nil {
		err := normal()
		if err != nil || ss.quit {
			ss.bw.Flush()
			return false
		}
		return true
	}
	if f.Err != "" && !f.Drop && !f.Stall {
		err := ss.reply("-ERR " + f.Err)
		if err != nil || call.Verb == "" || call.Verb == "QUIT" {
			ss.bw.Flush()
			return false
		}
		return true
	}
	if f.AfterBytes > 0 {
		ss.out = &cutWriter{w: ss.bw, n: f.AfterBytes}
		normal()
		ss.out = ss.bw
	}
	ss.bw.Flush()
	if f.Stall {
		// Stop answering; return when the client or Close hangs up.
		io.Copy(io.Discard, ss.conn)
	}
	return false
}

func (ss *session) readLine() (string, error) {
	var buf []byte
	for {
		part, err := ss.br.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > maxLine {
			return "", errors.New("line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
		ss.srv.logLine(line)
		return line, nil
	}
}

func (ss *session) reply(s string) error {
	_, err := io.WriteString(ss.out, s+"\r\n")
	return err
}

func (ss *session) handle(verb string, args []string) error {
	o := &ss.srv.opts
	if verb == "CAPA" {
		return ss.capa()
	}
	if ss.user == "" {
		switch verb {
		case "USER":
			if o.DisableUSER {
				break
			}
			if len(args) != 1 {
				return ss.reply("-ERR usage: USER name")
			}
			ss.userArg = args[0]
			return ss.reply("+OK send PASS")
		case "PASS":
			if o.DisableUSER {
				break
			}
			if ss.userArg == "" {
				return ss.reply("-ERR USER first")
			}
			pass := args[0]
			return ss.logIn(ss.userArg, func(p string) bool { return p == pass })
		case "APOP":
			return ss.apop(args)
		case "AUTH":
			return ss.auth(args)
		case "STLS":
			return ss.stls()
		case "QUIT":
			ss.quit = true
			return ss.reply("+OK bye")
		}
		return ss.reply("-ERR unknown command or not logged in")
	}
	switch verb {
	case "STAT":
		n, size := 0, int64(0)
		for i, m := range ss.msgs {
			if !ss.deleted[m] {
				n++
				size += ss.size(i)
			}
		}
		return ss.reply(fmt.Sprintf("+OK %d %d", n, size))
	case "LIST":
		if len(args) > 0 {
			i, err := ss.msgArg(args[0])
			if err != nil {
				return ss.reply("-ERR " + err.Error())
			}
			return ss.reply(fmt.Sprintf("+OK %d %d", i+1, ss.size(i)))
		}
		ss.reply("+OK scan listing follows")
		for i, m := range ss.msgs {
			if !ss.deleted[m] {
				if err := ss.reply(fmt.Sprintf("%d %d", i+1, ss.size(i))); err != nil {
					return err
				}
			}
		}
		return ss.reply(".")
	case "UIDL":
		if o.DisableUIDL {
			break
		}
		if len(args) > 0 {
			i, err := ss.msgArg(args[0])
			if err != nil {
				return ss.reply("-ERR " + err.Error())
			}
			return ss.reply(fmt.Sprintf("+OK %d %s", i+1, ss.uid(i)))
		}
		ss.reply("+OK unique-id listing follows")
		for i, m := range ss.msgs {
			if !ss.deleted[m] {
				if err := ss.reply(fmt.Sprintf("%d %s", i+1, ss.uid(i))); err != nil {
					return err
				}
			}
		}
		return ss.reply(".")
	case "RETR", "TOP":
		if len(args) < 1 || verb == "TOP" && len(args) != 2 {
			return ss.reply("-ERR usage: RETR n or TOP n lines")
		}
		i, err := ss.msgArg(args[0])
		if err != nil {
			return ss.reply("-ERR " + err.Error())
		}
		data := ss.msgs[i].data
		if verb == "TOP" {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return ss.reply("-ERR bad line count")
			}
			data = topBytes(data, n)
		}
		if err := ss.reply(fmt.Sprintf("+OK %d octets", len(data))); err != nil {
			return err
		}
		return WriteDotStuffed(ss.out, data)
	case "DELE":
		if len(args) != 1 {
			return ss.reply("-ERR usage: DELE n")
		}
		i, err := ss.msgArg(args[0])
		if err != nil {
			return ss.reply("-ERR " + err.Error())
		}
		ss.deleted[ss.msgs[i]] = true
		return ss.reply(fmt.Sprintf("+OK message %d deleted", i+1))
	case "RSET":
		clear(ss.deleted)
		return ss.reply("+OK")
	case "NOOP":
		return ss.reply("+OK")
	case "QUIT":
		// RFC 1939 section 6: the UPDATE state removes the marked
		// messages, then answers.
		ss.srv.unlock(ss.user, ss.deleted, true)
		ss.user = ""
		ss.quit = true
		return ss.reply("+OK bye")
	}
	return ss.reply("-ERR unknown command")
}

// msgArg returns the index of the message a number argument names.
func (ss *session) msgArg(arg string) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > len(ss.msgs) {
		return 0, fmt.Errorf("no such message")
	}
	if ss.deleted[ss.msgs[n-1]] {
		return 0, fmt.Errorf("message %d already deleted", n)
	}
	return n - 1, nil
}

func (ss *session) size(i int) int64 {
	size := int64(len(ss.msgs[i].data))
	if h := ss.srv.opts.Hooks.Size; h != nil {
		size = h(ss.user, i+1, size)
	}
	return size
}

func (ss *session) uid(i int) string {
	uid := ss.msgs[i].uid
	if h := ss.srv.opts.Hooks.UID; h != nil {
		uid = h(ss.user, ss.login, i+1, uid)
	}
	return uid
}

// logIn enters the TRANSACTION state if check accepts the password.
func (ss *session) logIn(user string, check func(pass string) bool) error {
	msgs, login, failure := ss.srv.lock(user, check)
	if failure != "" {
		return ss.reply("-ERR " + failure)
	}
	ss.user, ss.login, ss.msgs = user, login, msgs
	ss.deleted = map[*message]bool{}
	return ss.reply(fmt.Sprintf("+OK %s has %d messages", user, len(msgs)))
}
