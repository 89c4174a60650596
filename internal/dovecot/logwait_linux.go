package dovecot

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// waitChange returns once done() holds, checking it at the start and after
// each change in dir (inotify: no polling), or an error after limit.
func waitChange(dir string, limit time.Duration, done func() bool) error {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	// Non-blocking, so the runtime poller serves it and a deadline ends a Read.
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	defer f.Close()
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MODIFY|syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		return fmt.Errorf("inotify %s: %w", dir, err)
	}
	f.SetReadDeadline(time.Now().Add(limit))
	buf := make([]byte, 4096)
	for !done() {
		if _, err := f.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("not within %v", limit)
			}
			return err
		}
	}
	return nil
}
