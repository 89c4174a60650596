//go:build !linux

package dovecot

import (
	"fmt"
	"time"
)

// waitChange returns once done() holds, or an error after limit. Without
// inotify it looks every 10 ms.
func waitChange(dir string, limit time.Duration, done func() bool) error {
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
