package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// newSession is the reconnecting connection of backup and cleanup: one
// retry policy, one archive-failure check, one way of telling the user.
func newSession(account string, dial func(context.Context) (*imapconn.Conn, error), retries int, backoff time.Duration, rep progress.Reporter) *imapconn.Session {
	return &imapconn.Session{Dial: dial, Retries: retries, Backoff: backoff, Stop: stopRetry,
		OnRetry: func(what string, err error, wait time.Duration, n, max int) {
			progress.Send(rep, progress.Event{Kind: progress.Retry, Account: account, Err: err,
				Text: fmt.Sprintf("%s: reconnecting in %s (attempt %d of %d)", what, wait, n, max)})
		}}
}

// archiveFailed reports whether err is the archive failing to write (a
// full disk, an I/O error): no reconnect to the server can help, and the
// run stops.
func archiveFailed(err error) bool {
	var we *archive.WriteError
	return errors.As(err, &we)
}
