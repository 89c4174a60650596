package archive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is returned (wrapped in a *LockedError) when another process
// holds the repository's write lock.
var ErrLocked = errors.New("archive is locked by another writer")

// LockedError names the process that holds the lock.
type LockedError struct {
	Dir    string
	Holder string // "pid 1234 on host, since 2026-11-26T06:00:00Z: mailkeep backup"
}

func (e *LockedError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("archive %s is locked by another writer", e.Dir)
	}
	return fmt.Sprintf("archive %s is locked by another writer (%s)", e.Dir, e.Holder)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

type fileLock struct{ f *os.File }

// acquireLock takes an exclusive flock on DIR/lock, waiting up to wait.
// The lock dies with the process, so a kill -9 never leaves a stale lock.
func acquireLock(ctx context.Context, dir string, wait time.Duration, purpose string) (*fileLock, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			return nil, &LockedError{Dir: dir, Holder: strings.TrimSpace(string(holder))}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d on %s, since %s", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if purpose != "" {
		info += ": " + purpose
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info+"\n"), 0)
	}
	return &fileLock{f: f}, nil
}

func (l *fileLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return l.f.Close()
}

// LockHolder returns who holds the write lock of the archive in dir now,
// as the holder wrote it ("pid 1234 on host, since TIME: PURPOSE"), or ""
// when nobody does. The lock file names its holder while held and is
// emptied on release; after a crash it may still name a process that is
// gone, which is checked when the holder is on this host.
func LockHolder(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "lock"))
	if err != nil {
		return ""
	}
	holder := strings.TrimSpace(string(b))
	if holder == "" {
		return ""
	}
	var pid int
	var host string
	if _, err := fmt.Sscanf(holder, "pid %d on %s", &pid, &host); err == nil {
		if me, _ := os.Hostname(); strings.TrimSuffix(host, ",") == me && !processAlive(pid) {
			return ""
		}
	}
	return holder
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
