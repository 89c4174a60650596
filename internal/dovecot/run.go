package dovecot

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// launch runs the master in the foreground as our child, so that it
// stops when the test process dies, and waits until IMAP answers.
func (s *Server) launch() error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	s.IMAPAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.IMAPSAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.POP3Addr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	s.POP3SAddr = fmt.Sprintf("127.0.0.1:%d", ports[3])
	if err := os.WriteFile(s.conf, []byte(s.config(ports)), 0o644); err != nil {
		return err
	}
	stderr, err := os.OpenFile(filepath.Join(s.Dir, "log", "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer stderr.Close()
	s.stopOnce = sync.Once{}
	exited := make(chan struct{})
	s.exited = exited
	cmd := exec.Command(s.binary, "-F", "-c", s.conf)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.Dir = s.Dir
	if err := startChild(cmd, func(err error) { s.waitErr = err; close(exited) }); err != nil {
		close(exited)
		return fmt.Errorf("run %s: %w", s.binary, err)
	}
	s.pid = cmd.Process.Pid
	return s.waitReady(10 * time.Second)
}

// waitReady returns once the IMAP greeting carries capabilities, which
// Dovecot sends only when its auth process is up.
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("dovecot exited during startup (%v)", s.waitErr)
		default:
		}
		if greeted(s.IMAPAddr, deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("dovecot did not answer on %s within %v", s.IMAPAddr, limit)
}

func greeted(addr string, deadline time.Time) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(deadline)
	r := bufio.NewReader(c)
	for range 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		if strings.HasPrefix(line, "* OK [CAPABILITY") {
			fmt.Fprintf(c, "z LOGOUT\r\n")
			return true
		}
	}
	return false
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Stop shuts Dovecot down the way an administrator would (clients get
// "* BYE", ~1 s); its files stay until the test's cleanup. Use it to test
// what clients do when the server goes away; never on Shared.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// kill ends the master and all its children at once.
func (s *Server) kill() { s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig syscall.Signal) {
	s.stopOnce.Do(func() {
		if s.pid == 0 {
			return
		}
		select {
		case <-s.exited:
			return
		default:
		}
		// The master leads its own process group (see startChild).
		target := s.pid
		if sig == syscall.SIGKILL {
			target = -s.pid
		}
		syscall.Kill(target, sig)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-s.pid, syscall.SIGKILL)
			<-s.exited
		}
	})
}

func (s *Server) cleanup() {
	s.kill()
	os.RemoveAll(s.Dir)
}

// Log returns the last lines of Dovecot's log (and anything the master
// wrote to stderr), for failure messages.
func (s *Server) Log() string {
	out := tail(filepath.Join(s.Dir, "log", "dovecot.log"), 40)
	if errs := tail(filepath.Join(s.Dir, "log", "stderr.log"), 10); errs != "" {
		if out != "" {
			out += "--- stderr ---\n"
		}
		out += errs
	}
	return out
}

func tail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		f.Seek(st.Size()-window, 0)
	}
	buf := make([]byte, window)
	n, _ := f.Read(buf)
	ls := strings.SplitAfter(string(buf[:n]), "\n")
	if len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "")
}
