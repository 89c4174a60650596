package backup

import (
	"errors"
	"fmt"
	"time"
)

// Result is what one account's backup did.
type Result struct {
	Account    string
	Started    time.Time
	Finished   time.Time
	Folders    []FolderResult
	New        int64 // messages stored for the first time
	Seen       int64 // messages recorded at a new place whose bytes were already stored
	Bytes      int64 // raw bytes fetched
	Gone       int64 // places marked as gone from the server
	Flags      int64 // flag changes recorded
	Deleted    int64 // POP3: messages deleted from the server
	Errors     []error
	Fatal      error    // the account could not be backed up at all
	Incomplete string   // why the folder list is known to be incomplete
	Budget     string   // set when the day's download allowance ran out: stopped cleanly
	NoAccess   []string // folders skipped because the user may not read them (MYRIGHTS)
	DryRun     bool
}

// FolderResult is one folder's part of a Result.
type FolderResult struct {
	Name      string
	New, Seen int64
	Bytes     int64
	Gone      int64
	Flags     int64
	Skipped   bool   // unchanged since the last run
	NoAccess  string // why the folder was skipped: the user may not read it
	Err       error
}

// OK reports whether everything was backed up.
func (r *Result) OK() bool { return r.Fatal == nil && len(r.Errors) == 0 && r.Incomplete == "" }

// Err sums the failures up as one error, or nil.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	errs := []error{}
	if r.Fatal != nil {
		errs = append(errs, r.Fatal)
	}
	errs = append(errs, r.Errors...)
	if r.Incomplete != "" {
		errs = append(errs, fmt.Errorf("%s: folder list incomplete: %s", r.Account, r.Incomplete))
	}
	return errors.Join(errs...)
}
