package cyrus

import (
	"bufio"
	"encoding/binary"
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

// startLimit bounds how long a start may take (recover, binding, the
// first imapd); a healthy one takes well under a second.
const startLimit = 20 * time.Second

// launch writes the configs with fresh ports, runs the master in the
// foreground as our child, and returns once imapd greets.
func (s *Server) launch() error {
	ports, err := srvproc.FreePorts(3)
	if err != nil {
		return err
	}
	s.IMAPAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.IMAPSAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.POP3Addr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	if err := os.WriteFile(s.conf, []byte(s.imapdConf()), 0o644); err != nil {
		return err
	}
	masterConf := filepath.Join(s.Dir, "etc", "cyrus.conf")
	if err := os.WriteFile(masterConf, []byte(s.cyrusConf(ports)), 0o644); err != nil {
		return err
	}
	os.Remove(s.LMTPSocket)
	watch, err := watchCreate(filepath.Dir(s.LMTPSocket))
	if err != nil {
		return err
	}
	defer watch.close()

	out, err := os.OpenFile(filepath.Join(s.Dir, "log", "master.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	s.stopOnce = sync.Once{}
	exited := make(chan struct{})
	s.exited = exited
	// -D keeps stdout and stderr open (Cyrus logs to syslog; what it
	// prints on fatal errors is all a box without syslog gets).
	cmd := exec.Command(s.bin("master"), "-D", "-C", s.conf, "-M", masterConf,
		"-p", filepath.Join(s.Dir, "run", "master.pid"))
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+s.libDir())
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = s.Dir
	if err := srvproc.StartChild(cmd, func(err error) { s.waitErr = err; close(exited) }); err != nil {
		close(exited)
		return fmt.Errorf("run %s: %w", s.bin("master"), err)
	}
	s.pid = cmd.Process.Pid

	// The master binds its services in the order of cyrus.conf, lmtp's
	// socket last: once that appears, the TCP ports listen too.
	deadline := time.Now().Add(startLimit)
	if err := watch.wait(filepath.Base(s.LMTPSocket), exited, func() error { return s.waitErr }, deadline); err != nil {
		return err
	}
	return s.greeted(deadline)
}

// greeted waits for imapd's greeting (the master forks it on the first
// connection, once recovery is done).
func (s *Server) greeted(deadline time.Time) error {
	c, err := net.DialTimeout("tcp", s.IMAPAddr, time.Until(deadline))
	if err != nil {
		return fmt.Errorf("cyrus listens on no %s: %w (port taken?)", s.IMAPAddr, err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no greeting on %s: %w", s.IMAPAddr, err)
	}
	if !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("greeting on %s: %q", s.IMAPAddr, strings.TrimSpace(line))
	}
	fmt.Fprintf(c, "z LOGOUT\r\n")
	return nil
}

// Stop shuts Cyrus down the way an administrator would (SIGTERM to the
// master, which ends its children); the files stay until the test's
// cleanup. Use it to test what clients do when the server goes away;
// never on Shared.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

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
		srvproc.Stop(s.pid, s.exited, sig)
		// Children the master did not take down (it was killed).
		syscall.Kill(-s.pid, syscall.SIGKILL)
	})
}

func (s *Server) cleanup() {
	s.mu.Lock()
	if s.admin != nil {
		s.admin.Close()
		s.admin = nil
	}
	s.mu.Unlock()
	// A clean shutdown (SIGTERM: the master ends its children, in a few
	// ms), then whatever is left of the process group goes.
	s.Stop()
	os.RemoveAll(s.Dir)
}

// Log returns the last lines of what the master printed, for failure
// messages. (Cyrus logs to syslog; without /dev/log that goes nowhere.)
func (s *Server) Log() string {
	return srvproc.Tail(filepath.Join(s.Dir, "log", "master.log"), 30)
}

// watcher waits for a name to be created in a directory (inotify),
// without polling.
type watcher struct{ f *os.File }

func watchCreate(dir string) (*watcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("inotify %s: %w", dir, err)
	}
	// Non-blocking, so the runtime poller serves it and Close ends a Read.
	return &watcher{f: os.NewFile(uintptr(fd), "inotify:"+dir)}, nil
}

func (w *watcher) close() { w.f.Close() }

// wait returns when name is created, the master exits (with its exit
// status from exitErr), or the deadline passes.
func (w *watcher) wait(name string, exited <-chan struct{}, exitErr func() error, deadline time.Time) error {
	found := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := w.f.Read(buf)
			if err != nil {
				found <- err
				return
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				l := int(binary.NativeEndian.Uint32(buf[off+12:])) // struct inotify_event.len
				start := off + syscall.SizeofInotifyEvent
				if start+l > n {
					break
				}
				if strings.TrimRight(string(buf[start:start+l]), "\x00") == name {
					found <- nil
					return
				}
				off = start + l
			}
		}
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-found:
		return err
	case <-exited:
		w.close()
		return fmt.Errorf("cyrus master exited during startup (%v)", exitErr())
	case <-timer.C:
		w.close()
		return fmt.Errorf("cyrus did not bind its services within %v", startLimit)
	}
}
