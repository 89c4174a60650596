package cyrus

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startChild starts cmd in its own process group, asking the kernel to
// send it SIGTERM when we die. Cyrus' master drops to the cyrus user
// soon after, which clears that request: a test binary killed later
// leaves its master behind for reapStale. done gets cmd.Wait's result.
func startChild(cmd *exec.Cmd, done func(error)) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	started := make(chan error, 1)
	go func() {
		// The death signal follows the thread that forked: keep it.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done(cmd.Wait())
	}()
	return <-started
}
