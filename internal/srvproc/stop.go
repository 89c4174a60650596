package srvproc

import (
	"syscall"
	"time"
)

// Stop signals a master started by StartChild and waits until exited is
// closed. SIGKILL goes to the whole process group at once; any other
// signal to the master alone, which is given 5 s to end before its group
// is killed. A master that already exited is left alone.
func Stop(pid int, exited <-chan struct{}, sig syscall.Signal) {
	if pid == 0 {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	target := pid
	if sig == syscall.SIGKILL {
		target = -pid // the master leads its process group
	}
	syscall.Kill(target, sig)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}
