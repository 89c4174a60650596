//go:build !linux

package srvproc

import (
	"os/exec"
	"syscall"
)

// StartChild starts cmd in its own process group; done gets cmd.Wait's
// result. Without Linux's parent-death signal, a killed test binary can
// leave the master running until the next Start reaps it.
func StartChild(cmd *exec.Cmd, done func(error)) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { done(cmd.Wait()) }()
	return nil
}
