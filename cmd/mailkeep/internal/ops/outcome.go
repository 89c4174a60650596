package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/restore"
)

// Exit codes, a documented contract (README "Exit codes").
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitPartial     = 3
	ExitInterrupted = 130
)

// State is how far an account got.
type State int

const (
	OK          State = iota // everything done
	Partial                  // some of it done
	Failed                   // nothing of what was asked could be done
	Interrupted              // stopped by SIGINT or SIGTERM before it was done
)

func (s State) String() string {
	switch s {
	case OK:
		return "ok"
	case Partial:
		return "partial"
	case Interrupted:
		return "interrupted"
	}
	return "failed"
}

// Count is one named figure of an account or folder ("new", "copied").
type Count struct {
	Name string
	N    int64
}

// Folder is one folder's part of an account's outcome.
type Folder struct {
	Name   string
	Counts []Count
	Bytes  int64
	Err    error
}

// Account is one account's part of an operation's outcome.
type Account struct {
	Name    string
	Target  string // restore and migrate: the account written into
	State   State
	Counts  []Count // in the order they are shown
	Bytes   int64
	Folders []Folder
	Errors  []error // what failed, each naming its place
	Err     error   // why the account is not OK; nil when it is
	Note    string  // e.g. "stopped early: daily download budget spent"
	Started time.Time
	Done    time.Time
}

// Outcome is what one operation did. ExitCode is the only mapping from
// outcomes to exit codes; the CLI prints an Outcome, the job runner logs
// it.
type Outcome struct {
	Op          string // backup, restore, migrate, cleanup, export, import, verify
	Started     time.Time
	Finished    time.Time
	DryRun      bool
	Accounts    []*Account
	Err         error  // printed as the last error line; nil: nothing to add
	Hint        string // what to do about Err or the failures
	Usage       bool   // a usage or config error: nothing ran
	Failed      bool   // the operation as a whole failed, whatever its accounts did
	Interrupted bool   // the context ended before the operation did

	// The packages' own results, for the detailed reports of the CLI.
	Backups []*backup.Result
	Xfer    *restore.Result
	Cleanup *backup.CleanupResult
	Export  *restore.ExportResult
	Import  *backup.ImportResult
	Verify  *archive.VerifyResult
	Offsite *OffsiteResult        // push, pull, verify --offsite (offsite.go)
	Reseal  *archive.ResealResult // repair --encrypt (seal.go)
}

// ExitCode maps the outcome to mailkeep's exit code: 130 interrupted, 2
// usage or config error, 1 failed (the operation, or every account), 3
// partly done, 0 done.
func (o *Outcome) ExitCode() int {
	switch {
	case o.Usage:
		return ExitUsage
	case o.Interrupted:
		return ExitInterrupted
	case o.Failed:
		return ExitFailed
	}
	ok, failed := 0, 0
	for _, a := range o.Accounts {
		switch a.State {
		case OK:
			ok++
		case Failed:
			failed++
		}
	}
	switch {
	case ok == len(o.Accounts):
		return ExitOK
	case failed == len(o.Accounts):
		return ExitFailed
	}
	return ExitPartial
}

// Error is an error with the place it happened and, where it helps, what
// to do about it.
type Error struct {
	Account string
	Folder  string
	UID     uint32
	UIDL    string
	Err     error
	Hint    string
	Usage   bool // a usage or config error
}

// Where is the place: "account/folder uid N".
func (e *Error) Where() string { return Where(e.Account, e.Folder, e.UID, e.UIDL) }

func (e *Error) Error() string { return Describe(e.Where(), e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// Usagef is a usage or config error.
func Usagef(format string, args ...any) *Error {
	return &Error{Err: fmt.Errorf(format, args...), Usage: true}
}

// Where names a place: account, account/folder, with " uid N" or
// " uidl X" for a message.
func Where(account, folder string, uid uint32, uidl string) string {
	s := account
	if folder != "" {
		s += "/" + folder
	}
	if uid != 0 {
		s += fmt.Sprintf(" uid %d", uid)
	}
	if uidl != "" {
		s += " uidl " + uidl
	}
	return s
}

// Describe is "where: what", naming the place once: the core packages'
// errors often start with the place already ("alice/INBOX: select: ..."),
// and each line of a joined error is treated alike.
func Describe(where string, err error) string {
	if err == nil {
		return where
	}
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		out = append(out, StripPlace(where, line))
	}
	msg := strings.Join(out, "; ")
	if where == "" {
		return msg
	}
	return where + ": " + msg
}

// StripPlace removes from msg the leading places that where already
// names: the whole of it, account/folder, or the account.
func StripPlace(where, msg string) string {
	if where == "" {
		return msg
	}
	var prefixes []string
	for p := where; p != ""; {
		prefixes = append(prefixes, p)
		switch {
		case strings.LastIndex(p, " uid") > strings.LastIndex(p, "/"):
			p = p[:strings.LastIndex(p, " uid")]
		case strings.Contains(p, "/"):
			p = p[:strings.Index(p, "/")]
		default:
			p = ""
		}
	}
	for again := true; again; {
		again = false
		for _, p := range prefixes {
			if rest, ok := strings.CutPrefix(msg, p+": "); ok {
				msg, again = rest, true
				break
			}
		}
	}
	return msg
}

// finish marks an outcome as interrupted when its context ended, and
// stamps its end.
func (o *Outcome) finish(interrupted bool) *Outcome {
	o.Finished = time.Now()
	o.Interrupted = o.Interrupted || interrupted
	if o.Interrupted {
		// What was cut short is not a failure: its errors are the
		// cancellation's, and the next run resumes.
		for _, a := range o.Accounts {
			if a.State != OK {
				a.State, a.Err, a.Errors = Interrupted, nil, nil
				var keep []Count
				for _, c := range a.Counts {
					if c.Name != "errors" {
						keep = append(keep, c)
					}
				}
				a.Counts = keep
			}
		}
		o.Err = nil
	}
	if o.Hint == "" {
		o.Hint = hintOf(o.Err)
		for _, a := range o.Accounts {
			if o.Hint == "" && a.State != OK {
				o.Hint = hintOf(append([]error{a.Err}, a.Errors...)...)
			}
		}
	}
	return o
}

// runError is what the run history records as a run's error: "" when it
// went well, archive.RunInterrupted when a signal stopped it.
func runError(ctx context.Context, ok bool, err error) string {
	switch {
	case ok:
		return ""
	case ctx.Err() != nil:
		return archive.RunInterrupted
	}
	return Describe("", err)
}

// fail makes the operation as a whole a failure (or a usage error when
// err is one), taking the hint of an *Error.
func (o *Outcome) fail(err error) *Outcome {
	o.Err, o.Failed = err, true
	var e *Error
	if errors.As(err, &e) {
		o.Usage = e.Usage
		if e.Hint != "" {
			o.Hint = e.Hint
		}
	}
	return o
}
