// Package progress is how mailkeep's core packages report what they do
// without printing: they send Events to a Reporter; cmd/mailkeep turns
// them into progress bars, plain lines or JSON.
package progress

import "time"

// Kind says what an Event is about.
type Kind string

// Event kinds. Counts in an Event are deltas for Item, totals otherwise.
const (
	AccountStart Kind = "account-start"
	AccountDone  Kind = "account-done"
	FolderStart  Kind = "folder-start" // Total, TotalBytes: what this folder will do
	FolderDone   Kind = "folder-done"
	Item         Kind = "item"    // one message done: Bytes its size
	Skipped      Kind = "skipped" // one message deliberately not done: Text why
	Warning      Kind = "warning" // something the user should know; work goes on
	Failed       Kind = "failed"  // one message, folder or account failed: Err
	Retry        Kind = "retry"   // a transient failure; reconnecting
	Info         Kind = "info"
)

// Event is one thing that happened.
type Event struct {
	Kind       Kind
	Time       time.Time
	Account    string
	Folder     string
	UID        uint32
	UIDL       string
	Total      int64
	TotalBytes int64
	Bytes      int64
	Text       string
	Err        error
}

// Reporter receives events. Implementations must be safe for concurrent
// use: accounts run in parallel.
type Reporter interface {
	Report(Event)
}

// Func adapts a function to a Reporter.
type Func func(Event)

// Report calls f.
func (f Func) Report(e Event) { f(e) }

// Send delivers e to r, a nil Reporter being a no-op.
func Send(r Reporter, e Event) {
	if r == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.Report(e)
}
