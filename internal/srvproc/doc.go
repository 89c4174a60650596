// Package srvproc holds the plumbing that internal/dovecot and
// internal/cyrus share to run a private mail server for tests: the
// instance directory (short, traversable by the server's user, with an
// owner file so later runs reap what a killed test left), the
// self-signed test certificate, the master started in its own process
// group and stopped with it, free loopback ports, and the tail of a log
// for failure messages. What is particular to one server (its configs,
// users, readiness check) stays in its package.
//
// A server package's Start, in outline:
//
//	srvproc.ReapStale(prefix, "etc/NAME.conf") // once per test binary
//	dir := srvproc.MakeDir(prefix)
//	certFile, pool := srvproc.WriteCert(dir/ssl)
//	for attempt := 1..3 {
//		ports := srvproc.FreePorts(n); write configs
//		srvproc.StartChild(master, onExit); wait until it greets
//		if ok { return }; srvproc.Stop(pid, exited, SIGKILL)
//	}
//	on failure: srvproc.StartError{..., Log: srvproc.Tail(log, n)}
//
// Nothing here prints.
package srvproc
