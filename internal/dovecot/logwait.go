package dovecot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// WaitLog returns once Dovecot's log holds at least n lines that contain
// every one of parts, e.g. WaitLog(t, 1, "imap("+user+")", "Disconnected")
// for the end of a user's session: the event to wait for where a test
// would otherwise sleep to "let Dovecot finish". It fails the test after
// a minute.
func (s *Server) WaitLog(tb testing.TB, n int, parts ...string) {
	tb.Helper()
	path := filepath.Join(s.Dir, "log", "dovecot.log")
	count := func() int {
		b, _ := os.ReadFile(path)
		c := 0
	lines:
		for _, line := range strings.Split(string(b), "\n") {
			for _, p := range parts {
				if !strings.Contains(line, p) {
					continue lines
				}
			}
			c++
		}
		return c
	}
	if err := waitChange(filepath.Dir(path), time.Minute, func() bool { return count() >= n }); err != nil {
		tb.Fatalf("dovecot: waiting for %d log lines with %q: %v (found %d)\n%s", n, parts, err, count(), s.Log())
	}
}
