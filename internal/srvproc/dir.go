package srvproc

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

// MakeDir creates an instance directory named prefix+random. Its path
// must stay short (the server's unix sockets live below it) and every
// parent must be searchable by the server's users, so a long or private
// TMPDIR gives way to /tmp. An owner file lets later runs tell abandoned
// directories apart (see ReapStale).
func MakeDir(prefix string) (string, error) {
	base := os.TempDir()
	if len(base) > 40 || !searchable(base) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, prefix)
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

// reaped holds a *sync.Once for each prefix ReapStale was called with.
var reaped sync.Map

// ReapStale removes the instance directories made by MakeDir(prefix)
// whose test process is gone (killed before its cleanup ran), first
// killing the process group of a master that survived: one whose pid is
// in DIR/run/master.pid and whose command line names DIR/conf. It looks
// once per prefix in a test binary; later calls return at once.
func ReapStale(prefix, conf string) {
	once, _ := reaped.LoadOrStore(prefix, new(sync.Once))
	once.(*sync.Once).Do(func() {
		for _, base := range []string{os.TempDir(), "/tmp"} {
			dirs, _ := filepath.Glob(filepath.Join(base, prefix+"*"))
			for _, dir := range dirs {
				if abandoned(dir) {
					stopStaleMaster(dir, conf)
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

// stopStaleMaster kills the process group of an abandoned directory's
// master, if its pid file names a live process started with that
// directory's config.
func stopStaleMaster(dir, conf string) {
	b, err := os.ReadFile(filepath.Join(dir, "run", "master.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), filepath.Join(dir, conf)) {
		return
	}
	syscall.Kill(-pid, syscall.SIGKILL) // the master leads its process group
}
