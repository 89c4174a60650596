package backup

import (
	"errors"
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// Reasons a candidate stays on the server (CleanupFolder.Kept).
const (
	KeptAlreadyDeleted = "already-deleted"      // \Deleted by someone else: left alone
	KeptNotArchived    = "not-archived"         // no archived copy at (folder, UIDVALIDITY, UID): arrived after the backup
	KeptSizeMismatch   = "size-mismatch"        // server and archive disagree on its size
	KeptDamaged        = "archive-damaged"      // the archived copy does not read back with its hash
	KeptCriteria       = "criteria-mismatch"    // the server's SEARCH matched; its own date or size says otherwise
	KeptNoDateHeader   = "date-header-unusable" // --by date-header: the archived Date: cannot be read
	KeptUIDValidity    = "uidvalidity-changed"  // the folder's UIDs changed meaning since the backup
	KeptNoUIDPlus      = "no-uidplus"           // no UID EXPUNGE, and --allow-expunge not given
	KeptOtherDeleted   = "other-deleted"        // no UID EXPUNGE, and other messages are \Deleted
	KeptFailed         = "failed"               // an error on its batch
	KeptNoRights       = "no-delete-right"      // MYRIGHTS lacks t and e (RFC 4314) or d (RFC 2086)
	KeptNotOwn         = "not-own-folder"       // the folder is outside the account's personal namespace
)

// problemReasons are kept-reasons a user must look at (exit code 3).
var problemReasons = map[string]bool{KeptSizeMismatch: true, KeptDamaged: true, KeptUIDValidity: true,
	KeptNoUIDPlus: true, KeptOtherDeleted: true, KeptFailed: true, KeptNoRights: true, KeptNotOwn: true}

// ProblemReason reports whether a kept-reason means something is wrong,
// as opposed to mail that is kept by design.
func ProblemReason(reason string) bool { return problemReasons[reason] }

// CleanupResult is what one account's cleanup did.
type CleanupResult struct {
	Account     string
	Started     time.Time
	Finished    time.Time
	DryRun      bool
	Gmail       bool    // the server is Gmail (X-GM-EXT-1)
	Backup      *Result // the backup run first; nil with SkipBackup
	Folders     []CleanupFolder
	QuotaBefore []Quota // empty when the server has no QUOTA
	QuotaNote   string  // why QuotaBefore is empty: no QUOTA, no quota root, GETQUOTAROOT failed
	QuotaAfter  []Quota
	Candidates  int64
	Deleted     int64 // in a dry run: would be deleted
	Bytes       int64 // freed (would be freed)
	Kept        int64
	Recovered   int64 // left behind by an interrupted run and completed now
	Errors      []error
	Fatal       error
}

// CleanupFolder is one folder's part of a CleanupResult.
type CleanupFolder struct {
	Name        string
	UIDValidity uint32
	Candidates  int64 // matched the date/size criteria on the server
	Deleted     int64 // in a dry run: would be deleted
	Bytes       int64
	Kept        map[string]int64 // reason -> count
	Recovered   int64            // intents of an interrupted run completed
	Unflagged   int64            // mailkeep's own \Deleted taken off again
	Pending     int64            // dry run: intents of an interrupted run found
	Items       []CleanupItem    // what went (would go), and kept messages with a problem
	Skipped     string           // why the whole folder was left alone
	Err         error
}

// CleanupItem is one message of a report.
type CleanupItem struct {
	UID     uint32
	Date    time.Time // INTERNALDATE, or the Date: header with ByDateHeader
	Size    int64
	Subject string
	Hash    archive.Hash
	Kept    string // "" for deleted (would be deleted), else the reason
	Detail  string
}

// Quota is one resource of a quota root (RFC 9208); STORAGE counts KiB.
type Quota struct {
	Root     string
	Resource string
	Usage    int64
	Limit    int64
}

// KeptTotal is the number of candidates kept, all reasons.
func (f *CleanupFolder) KeptTotal() int64 {
	var n int64
	for _, v := range f.Kept {
		n += v
	}
	return n
}

// Problems reports whether the folder kept messages for a reason a user
// must look at, or failed.
func (f *CleanupFolder) Problems() bool {
	if f.Err != nil {
		return true
	}
	for r, n := range f.Kept {
		if n > 0 && problemReasons[r] {
			return true
		}
	}
	return false
}

// OK reports whether everything chosen was dealt with: no failure, the
// backup complete, and nothing kept for a reason that needs attention.
func (r *CleanupResult) OK() bool {
	if r.Fatal != nil || len(r.Errors) > 0 || (r.Backup != nil && !r.Backup.OK()) {
		return false
	}
	for i := range r.Folders {
		if r.Folders[i].Problems() {
			return false
		}
	}
	return true
}

// Err sums failures up as one error, or nil. Kept messages are not
// errors; see OK.
func (r *CleanupResult) Err() error {
	var errs []error
	if r.Fatal != nil {
		errs = append(errs, r.Fatal)
	}
	if r.Backup != nil {
		if err := r.Backup.Err(); err != nil {
			errs = append(errs, fmt.Errorf("backup before cleanup: %w", err))
		}
	}
	errs = append(errs, r.Errors...)
	return errors.Join(errs...)
}
