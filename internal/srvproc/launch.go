package srvproc

import (
	"os"
	"strings"
)

// Launch brings up a server in its instance directory dir: prepare
// writes what needs no ports, launch picks free ports, hands them to the
// server and waits until it is ready. Another process may take a port in
// between, so a launch whose log (from logTail) says "in use" is tried
// again with fresh ports, three times at most; kill ends what a failed
// attempt started. On failure dir is removed, and Launch returns the
// error with the log's last lines as they were (none if prepare failed).
func Launch(dir string, prepare, launch func() error, kill func(), logTail func() string) (log string, err error) {
	if err := prepare(); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	for attempt := 1; ; attempt++ {
		err := launch()
		if err == nil {
			return "", nil
		}
		kill()
		if attempt == 3 || !strings.Contains(logTail(), "in use") {
			log := logTail()
			os.RemoveAll(dir)
			return log, err
		}
	}
}
