package srvproc

import (
	"os/exec"
	"runtime"
	"syscall"
)

// StartChild starts cmd in its own process group, asking the kernel to
// send it SIGTERM when we die, so that a crashed or killed test binary
// leaves no master behind. A master that drops to another user clears
// that request: a test binary killed later leaves it for ReapStale.
// done gets cmd.Wait's result.
func StartChild(cmd *exec.Cmd, done func(error)) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	started := make(chan error, 1)
	go func() {
		// The death signal follows the thread that forked, not the
		// process: keep this thread alive (locked, never unlocked) for
		// as long as the child runs.
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
