package dovecot

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

const dirPrefix = "mailkeep-dovecot-"

// makeDir creates the instance directory. Its path must stay short
// (Dovecot's unix sockets live below it) and every parent must be
// searchable by the mail user, so a long or private TMPDIR gives way to
// /tmp. An owner file lets later runs tell abandoned directories apart.
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
	// The command name (field 2) may contain spaces; fields resume after ')'.
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 19 {
			return f[19]
		}
	}
	return ""
}

var reapOnce sync.Once

// reapStale removes instance directories whose test process is gone
// (killed before its cleanup ran), stopping their Dovecot if it survived.
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
		// No owner file: abandoned unless it is being created right now.
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

// stopStaleMaster kills the master of an abandoned directory, if its pid
// file names a live dovecot started with that directory's config.
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
	if err != nil || !strings.Contains(string(cmdline), filepath.Join(dir, "etc", "dovecot.conf")) {
		return
	}
	syscall.Kill(-pid, syscall.SIGKILL) // the master leads its process group
}
