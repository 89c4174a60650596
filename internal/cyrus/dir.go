package cyrus

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const dirPrefix = "mailkeep-cyrus-"

// makeDir creates the instance directory below /tmp-like storage whose
// every parent the cyrus user can traverse (its unix sockets live below
// it, so the path stays short). An owner file lets later runs tell
// abandoned directories apart.
func makeDir() (string, error) {
	base := os.TempDir()
	if len(base) > 40 || !searchable(base) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	owner := fmt.Sprintf("%d %s\n", os.Getpid(), procStart(os.Getpid()))
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(owner), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// searchable reports whether others may traverse every directory of path.
func searchable(path string) bool {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == "/" || p == "." {
			return true
		}
	}
}

// procStart is the start time of a process (field 22 of /proc/PID/stat),
// so that a recycled pid is not taken for the original process.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 19 {
			return f[19]
		}
	}
	return ""
}

var reapOnce sync.Once

// reapStale removes instance directories whose test process is gone,
// stopping their master if it survived (it drops to the cyrus user,
// which clears the parent-death signal).
func reapStale() {
	reapOnce.Do(func() {
		for _, base := range []string{os.TempDir(), "/tmp"} {
			dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
			for _, dir := range dirs {
				if abandoned(dir) {
					stopStaleMaster(dir)
					os.RemoveAll(dir)
				}
			}
		}
	})
}

func abandoned(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "owner"))
	if err != nil {
		st, err := os.Stat(dir)
		return err == nil && time.Since(st.ModTime()) > time.Minute
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return true
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return true
	}
	return procStart(pid) != f[1]
}

// stopStaleMaster kills the process group of an abandoned directory's
// master, if its pid file names a live master of that directory's config.
func stopStaleMaster(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "run", "master.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), filepath.Join(dir, "etc", "cyrus.conf")) {
		return
	}
	syscall.Kill(-pid, syscall.SIGKILL) // the master leads its process group
}
