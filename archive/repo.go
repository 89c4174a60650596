package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Options control how a repository is opened. A nil *Options means
// read-only, must exist.
type Options struct {
	// Create makes the repository if DIR does not hold one yet.
	Create bool
	// ReadOnly opens without the write lock: for ls, verify, export.
	ReadOnly bool
	// LockWait is how long a writer waits for another writer's lock.
	LockWait time.Duration
	// Purpose is written into the lock file so a second writer can say
	// who holds it ("mailkeep backup").
	Purpose string
	// PackSize is the size at which a data file is sealed and a new one
	// begun. Zero means 512 MiB.
	PackSize int64
	// Compression is the zstd effort for new messages: "fast", "default"
	// ("" too) or "better". Readers decode every level.
	Compression string
	// Now is the clock that dates what the archive records (first and
	// last seen, gone since, ledger entries); nil means time.Now. Tests
	// set it instead of sleeping past the index's one-second resolution.
	Now func() time.Time
}

// Repo is an open archive repository. Its methods are safe for concurrent
// use; writes are serialised internally (one writer, many goroutines).
type Repo struct {
	dir      string
	readOnly bool
	lock     *fileLock
	rdb      *sql.DB // readers (WAL: they never block the writer)
	wdb      *sql.DB // the single writer connection; nil when read-only

	enc *zstd.Encoder
	dec *zstd.Decoder

	seal     Sealer       // encryption at rest; nil: none (seal.go)
	unopened atomic.Int64 // encrypted messages verify could check only as frames (seal.go)

	packsMu sync.Mutex
	readers map[int64]*os.File

	mu       sync.Mutex // guards everything below
	tx       *sql.Tx
	pack     *packWriter
	packSize int64
	clock    func() time.Time // Options.Now
	pending  map[Hash]Blob    // blobs added in the open transaction
	dirty    bool
	closed   bool
	failed   error                // a write failed; the transaction was rolled back for everyone
	prepared map[string]*sql.Stmt // on the writer connection, for the Repo's life
	txStmts  map[string]*sql.Stmt // the open transaction's forms of them
}

// Open opens (or with Options.Create, creates) the repository in dir.
func Open(ctx context.Context, dir string, opts *Options) (*Repo, error) {
	if opts == nil {
		opts = &Options{ReadOnly: true}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	marker := filepath.Join(dir, "mailkeep-archive")
	_, statErr := os.Stat(marker)
	switch {
	case statErr == nil:
	case errors.Is(statErr, os.ErrNotExist) && opts.Create && !opts.ReadOnly:
		if err := initDir(dir); err != nil {
			return nil, fmt.Errorf("create archive %s: %w", dir, err)
		}
	case errors.Is(statErr, os.ErrNotExist):
		return nil, fmt.Errorf("%s is not a mailkeep archive (no mailkeep-archive file): %w", dir, os.ErrNotExist)
	default:
		return nil, fmt.Errorf("open archive %s: %w", dir, statErr)
	}

	r := &Repo{dir: dir, readOnly: opts.ReadOnly, readers: map[int64]*os.File{}, packSize: opts.PackSize, clock: opts.Now}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.packSize <= 0 {
		r.packSize = 512 << 20
	}
	if !opts.ReadOnly {
		r.lock, err = acquireLock(ctx, dir, opts.LockWait, opts.Purpose)
		if err != nil {
			return nil, err
		}
	}
	if err := r.openDB(ctx); err != nil {
		r.Close()
		return nil, err
	}
	// On the lab corpus SpeedDefault stores 0.43 of the raw size at ~1.5x
	// the speed of SpeedBetterCompression (0.37, like the zstd tool's -3).
	// Low-memory mode halves the encoder's buffers, which dominate
	// mailkeep's memory.
	r.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(encoderLevel(opts.Compression)), zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(true), zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1))
	r.dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<40))
	if !opts.ReadOnly {
		if err := r.recoverPacks(ctx); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

func encoderLevel(name string) zstd.EncoderLevel {
	switch name {
	case "fast":
		return zstd.SpeedFastest
	case "better":
		return zstd.SpeedBetterCompression
	}
	return zstd.SpeedDefault
}

func initDir(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	// The marker appears last and atomically: a directory with the marker
	// always has its data folder.
	return writeFileAtomic(filepath.Join(dir, "mailkeep-archive"), []byte(formatMarker), 0o600)
}

func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_txlock", "immediate")
	if readOnly {
		q.Set("mode", "ro")
	}
	// The path is URI-escaped: a '#' or '?' in a directory name would
	// otherwise end the file name (SQLite URI filenames, RFC 3986).
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func (r *Repo) openDB(ctx context.Context) error {
	path := filepath.Join(r.dir, "index.db")
	if !r.readOnly {
		wdb, err := openIndexDB(sqliteDSN(path, false), r.dir, true) // searchdb.go: search.db attached
		if err != nil {
			return err
		}
		wdb.SetMaxOpenConns(1)
		r.wdb = wdb
		if _, err := wdb.ExecContext(ctx, schemaSQL); err != nil {
			return fmt.Errorf("index %s: %w", path, err)
		}
		var v string
		err = wdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='format_version'`).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = wdb.ExecContext(ctx, `INSERT INTO meta(key,value) VALUES('format_version',?),('created_at',?)`,
				strconv.Itoa(FormatVersion), time.Now().UTC().Format(time.RFC3339))
		}
		if err != nil {
			return fmt.Errorf("index %s: %w", path, err)
		}
		if err := r.prepare(ctx); err != nil {
			return fmt.Errorf("index %s: %w", path, err)
		}
	}
	rdb, err := openIndexDB(sqliteDSN(path, false), r.dir, false)
	if err != nil {
		return err
	}
	rdb.SetMaxOpenConns(4)
	r.rdb = rdb
	var v string
	if err := rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='format_version'`).Scan(&v); err != nil {
		return fmt.Errorf("index %s: cannot read format version: %w", path, err)
	}
	if n, _ := strconv.Atoi(v); n != FormatVersion {
		return fmt.Errorf("archive %s has format version %s; this mailkeep reads version %d", r.dir, v, FormatVersion)
	}
	return nil
}

// Dir is the repository's directory.
func (r *Repo) Dir() string { return r.dir }

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

// WriteError is a failure to write the archive itself (a full disk, an
// I/O error). The open transaction was rolled back and the Repo accepts no
// more writes; a retry against the mail server cannot help.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "archive: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

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
	err := r.tx.Commit()
	r.tx = nil
	r.pending = nil
	r.dirty = false
	if err != nil {
		// The pack may hold bytes no index row names; they are cut off
		// when the next writer opens the repository.
		return r.abortLocked(fmt.Errorf("index: commit: %w", err))
	}
	if r.pack != nil {
		r.pack.committed = r.pack.size
	}
	return nil
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

// Close commits nothing: call Commit first to keep pending work. It
// rolls back an open transaction, closes the files and releases the lock.
func (r *Repo) Close() error {
	r.mu.Lock()
	r.abortLocked(nil)
	r.closed = true
	if r.pack != nil {
		r.pack.close()
		r.pack = nil
	}
	r.mu.Unlock()
	r.packsMu.Lock()
	for id, f := range r.readers {
		f.Close()
		delete(r.readers, id)
	}
	r.packsMu.Unlock()
	var errs []error
	if r.rdb != nil {
		errs = append(errs, r.rdb.Close())
	}
	for _, st := range r.prepared {
		st.Close()
	}
	if r.wdb != nil {
		r.wdb.Exec(`PRAGMA search.wal_checkpoint(TRUNCATE)`)
		if _, err := r.wdb.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, r.wdb.Close())
	}
	if r.enc != nil {
		r.enc.Close()
	}
	if r.dec != nil {
		r.dec.Close()
	}
	errs = append(errs, r.lock.release())
	return errors.Join(errs...)
}

// writeFileAtomic writes data under a temporary name, syncs it, renames it
// into place and syncs the directory: nothing appears under its final name
// until it is complete.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return err
	}
	return nil
}

// Now is the time by the archive's clock (Options.Now): what callers pass
// as "when" for the records they make, such as MarkGone's.
func (r *Repo) Now() time.Time { return r.clock() }
