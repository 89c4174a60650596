package restore

import (
	"errors"
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// Result is what one restore or migrate run did, folder by folder.
type Result struct {
	Source   string // archive account (restore) or source account (migrate)
	Target   string
	Started  time.Time
	Finished time.Time
	DryRun   bool
	Folders  []*FolderResult // by target folder, in the order first met
	Backup   *backup.Result  // migrate: the source side
	Errors   []error         // failures that did not stop the run
	Fatal    error           // the run could not go on (login refused, archive failure, ...)
}

// FolderResult is the reconciliation of one target folder.
type FolderResult struct {
	Sources    []string // source folders mapped here
	Target     string   // folder name on the target
	How        string   // how the name was chosen: inbox, folder_map, special-use, name
	Created    bool     // created by this run (or would be, in a dry run)
	SpecialUse string   // role asked for on creation, if any
	Notes      []string // renamed levels and the like

	InSource     int64 // source messages selected for this folder
	OnTarget     int64 // of those, known to be on the target now
	TargetTotal  int64 // messages in the target folder at the end, other mail included
	Copied       int64 // appended by this run (or would be)
	CopiedBytes  int64
	Adopted      int64 // found already there and recorded, not appended
	FlagsUpdated int64 // messages whose flags were carried over again

	Skipped      []Skip           // not copied, and why
	Repaired     []Skip           // changed by RepairLineEndings before the APPEND
	Altered      []Skip           // on the target, but stored with other bytes than sent (Cyrus munge8bit, ...)
	DroppedFlags map[string]int64 // flag -> messages it was left off (not allowed by the target)
	Err          error            // the folder as a whole failed
}

// Skip names a message that was not copied as it is, and why.
type Skip struct {
	Folder    string // source folder
	UID       uint32 // source UID, 0 for POP3
	MessageID string
	Hash      archive.Hash
	Size      int64
	Reason    string
}

func (s Skip) String() string {
	id := s.MessageID
	if id == "" {
		id = "(no Message-ID) sha256 " + s.Hash.String()[:16]
	}
	where := s.Folder
	if s.UID != 0 {
		where += fmt.Sprintf(" uid %d", s.UID)
	}
	return fmt.Sprintf("%s %s (%d bytes): %s", where, id, s.Size, s.Reason)
}

// Complete reports whether every selected source message is on the target.
func (f *FolderResult) Complete() bool { return f.Err == nil && f.OnTarget == f.InSource }

// OK reports whether the run finished with every source message on the
// target (exit status 0).
func (r *Result) OK() bool {
	if r.Fatal != nil || len(r.Errors) > 0 {
		return false
	}
	if r.Backup != nil && !r.Backup.OK() {
		return false
	}
	if r.DryRun {
		return true
	}
	for _, f := range r.Folders {
		if !f.Complete() {
			return false
		}
	}
	return true
}

// Err sums up why the run is not OK, or nil.
func (r *Result) Err() error {
	var errs []error
	if r.Fatal != nil {
		errs = append(errs, r.Fatal)
	}
	if r.Backup != nil {
		if err := r.Backup.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, r.Errors...)
	if !r.DryRun {
		for _, f := range r.Folders {
			switch {
			case f.Err != nil && f.InSource > f.OnTarget:
				errs = append(errs, fmt.Errorf("%s/%s: %d of %d source messages are not on the target: %w",
					r.Target, f.Target, f.InSource-f.OnTarget, f.InSource, f.Err))
			case f.Err != nil:
				errs = append(errs, fmt.Errorf("%s/%s: %w", r.Target, f.Target, f.Err))
			case f.OnTarget != f.InSource:
				errs = append(errs, fmt.Errorf("%s/%s: %d of %d source messages are not on the target (%d skipped)",
					r.Target, f.Target, f.InSource-f.OnTarget, f.InSource, len(f.Skipped)))
			}
		}
	}
	return errors.Join(errs...)
}

// AlteredTotal is how many copies on the target the target altered.
func (r *Result) AlteredTotal() int64 {
	var n int64
	for _, f := range r.Folders {
		n += int64(len(f.Altered))
	}
	return n
}

// Totals adds the folders up.
func (r *Result) Totals() (inSource, onTarget, copied, adopted, flags, skipped, bytes int64) {
	for _, f := range r.Folders {
		inSource += f.InSource
		onTarget += f.OnTarget
		copied += f.Copied
		adopted += f.Adopted
		flags += f.FlagsUpdated
		skipped += int64(len(f.Skipped))
		bytes += f.CopiedBytes
	}
	return
}

// finish completes the folder results and reports them.
func (e *engine) finish() {
	for _, tf := range e.orderedFolders() {
		r := tf.res
		r.InSource, r.OnTarget = 0, 0
		for _, p := range tf.places {
			r.InSource++
			if p.row != nil {
				r.OnTarget++
			}
		}
		r.TargetTotal = int64(len(tf.onTarget))
		if e.o.DryRun {
			for _, sf := range tf.srcs {
				r.InSource += sf.fetch
				r.Copied += sf.fetch
			}
			r.OnTarget += r.Adopted
			r.TargetTotal += r.Copied
		}
		text := fmt.Sprintf("%d in source, %d on target, copied %d, adopted %d, flags %d, skipped %d",
			r.InSource, r.OnTarget, r.Copied, r.Adopted, r.FlagsUpdated, len(r.Skipped))
		if len(r.Altered) > 0 {
			text += fmt.Sprintf(", altered by the target %d", len(r.Altered))
		}
		if e.o.DryRun {
			text = fmt.Sprintf("%d in source, would copy %d, would adopt %d, would update flags of %d", r.InSource, r.Copied, r.Adopted, r.FlagsUpdated)
		}
		progress.Send(e.rep, progress.Event{Kind: progress.FolderDone, Account: e.t.Name, Folder: tf.name, Text: text, Err: r.Err})
	}
	e.res.Finished = time.Now()
}
