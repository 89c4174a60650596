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

	"github.com/mailkeep/mailkeep/internal/srvproc"
)

// launch runs the master in the foreground as our child, so that it
// stops when the test process dies, and waits until IMAP answers.
func (s *Server) launch() error {
	ports, err := srvproc.FreePorts(4)
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
	if err := srvproc.StartChild(cmd, func(err error) { s.waitErr = err; close(exited) }); err != nil {
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

// Stop shuts Dovecot down the way an administrator would (clients get
// "* BYE", ~1 s); its files stay until the test's cleanup. Use it to test
// what clients do when the server goes away; never on Shared.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// kill ends the master and all its children at once.
func (s *Server) kill() { s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig syscall.Signal) {
	s.stopOnce.Do(func() { srvproc.Stop(s.pid, s.exited, sig) })
}

func (s *Server) cleanup() {
	s.kill()
	os.RemoveAll(s.Dir)
}

// Log returns the last lines of Dovecot's log (and anything the master
// wrote to stderr), for failure messages.
func (s *Server) Log() string {
	out := srvproc.Tail(filepath.Join(s.Dir, "log", "dovecot.log"), 40)
	if errs := srvproc.Tail(filepath.Join(s.Dir, "log", "stderr.log"), 10); errs != "" {
		if out != "" {
			out += "--- stderr ---\n"
		}
		out += errs
	}
	return out
}
