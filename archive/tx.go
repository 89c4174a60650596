package archive

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The writer transaction: one at a time, shared by every goroutine that
// writes (under r.mu), committed after the pack bytes are synced, rolled
// back with the pack cut to its last committed size on any failure.

// begin opens the writer transaction if none is open. r.mu must be held.
func (r *Repo) begin(ctx context.Context) error {
	if r.readOnly {
		return errors.New("archive opened read-only")
	}
	if r.closed {
		return errors.New("archive is closed")
	}
	if r.failed != nil {
		return &WriteError{Err: fmt.Errorf("writes stopped after an earlier failure: %w", r.failed)}
	}
	if r.tx != nil {
		return nil
	}
	tx, err := r.wdb.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return &WriteError{Err: fmt.Errorf("index: begin: %w", err)}
	}
	r.tx = tx
	r.txStmts = nil
	r.pending = map[Hash]Blob{}
	return nil
}

// testHookBeforeIndexCommit runs between the pack's fsync and the index
// commit; tests kill the process there.
var testHookBeforeIndexCommit func()

// WriteError is a failure to write the archive itself (a full disk, an
// I/O error). The open transaction was rolled back and the Repo accepts no
// more writes; a retry against the mail server cannot help.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "archive: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, syscall.ENOSPC) true for a disk that filled up
// under SQLite too: it reports SQLITE_FULL, not the errno.
func (e *WriteError) Is(target error) bool {
	if target != syscall.ENOSPC {
		return false
	}
	var se *sqlite.Error
	return errors.As(e.Err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// Commit makes every change since the last commit durable: first the pack
// bytes are synced, then the index transaction commits.
func (r *Repo) Commit(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commitLocked(ctx)
}

func (r *Repo) commitLocked(ctx context.Context) error {
	if r.tx == nil {
		return nil
	}
	if r.pack != nil && r.pack.unsynced {
		if err := r.pack.sync(); err != nil {
			return r.abortLocked(fmt.Errorf("sync %s: %w", r.pack.path, err))
		}
		if _, err := r.tx.Exec(`UPDATE packs SET size=? WHERE id=?`, r.pack.size, r.pack.id); err != nil {
			return r.abortLocked(fmt.Errorf("index: %w", err))
		}
	}
	if err := r.foldStatsLocked(ctx); err != nil { // folderstats.go
		return r.abortLocked(fmt.Errorf("index: folder figures: %w", err))
	}
	if _, err := r.tx.Exec(`UPDATE meta SET value=? WHERE key='commit_seq'`, strconv.FormatInt(r.seq+1, 10)); err != nil {
		return r.abortLocked(fmt.Errorf("index: %w", err))
	}
	if testHookBeforeIndexCommit != nil {
		testHookBeforeIndexCommit() // crash tests: kill -9 here, packs synced
	}
	err := r.tx.Commit()
	r.tx = nil
	r.pending = nil
	r.dirty = false
	if err != nil {
		// A failed COMMIT is not always a rolled-back one: with search.db
		// attached, SQLite's WAL mode commits each database on its own, so
		// index.db may hold the rows while the search index failed (a full
		// disk). Cutting the pack then would leave rows naming bytes that
		// are gone. Only a commit known not to have happened may be undone.
		cause := fmt.Errorf("index: commit: %w", err)
		switch r.committedSeq() {
		case r.seq + 1: // index.db committed; the search index catches up by itself (SearchUnindexed)
			r.advanceLocked()
			r.failed = &WriteError{Err: cause}
			return r.failed
		case r.seq: // nothing committed
			return r.abortLocked(cause)
		default: // unknown: keep the bytes; the next writer explains or keeps them
			return r.abortKeepLocked(cause)
		}
	}
	r.advanceLocked()
	return nil
}

// advanceLocked records a commit of index.db.
func (r *Repo) advanceLocked() {
	if r.pack != nil {
		r.pack.committed = r.pack.size
	}
	r.seq++
	r.txGen++
	// After the commit, never before: the file may lag behind the index
	// (a crash in between), never run ahead of it.
	writeCommitFile(r.dir, r.seq)
}

// committedSeq is the commit number index.db holds now, or -1 when it
// cannot be read.
func (r *Repo) committedSeq() int64 {
	var v string
	if err := r.wdb.QueryRow(`SELECT value FROM meta WHERE key='commit_seq'`).Scan(&v); err != nil {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// abortKeepLocked is abortLocked without cutting the pack: for a commit
// whose outcome is unknown.
func (r *Repo) abortKeepLocked(cause error) error {
	p := r.pack
	r.pack = nil
	err := r.abortLocked(cause)
	if p != nil {
		p.close()
	}
	return err
}

// abortLocked rolls the open transaction back and cuts the pack back to
// its last committed size, so that a failed write (a full disk) leaves
// the archive exactly as it was at the last commit.
func (r *Repo) abortLocked(cause error) error {
	var we *WriteError
	if cause != nil && !errors.As(cause, &we) {
		cause = &WriteError{Err: cause}
	}
	if cause != nil && r.failed == nil {
		// Other goroutines may have had rows in the rolled-back transaction;
		// their in-memory state no longer matches the index, so no more
		// writes are accepted from this Repo.
		r.failed = cause
	}
	if r.tx != nil {
		r.tx.Rollback()
		r.tx = nil
	}
	r.pending = nil
	r.txGen++       // lookups made in it are void (blob.go)
	r.flagIDs = nil // some may have been made in the rolled-back transaction
	if r.pack != nil {
		if err := r.pack.truncate(r.pack.committed); err != nil {
			r.pack.close()
			r.pack = nil
		}
	}
	return cause
}

// Rollback discards every change since the last commit.
func (r *Repo) Rollback() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.abortLocked(nil)
}
