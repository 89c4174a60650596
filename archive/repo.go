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

	"github.com/mailkeep/mailkeep/internal/progress"
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
	// Report receives warnings about what opening found and fixed
	// (permissions, an interrupted run's data); nil: none.
	Report progress.Reporter
	// Sealer is SetSealer's, given from the start: opening a writer may
	// read encrypted messages an interrupted run left (and Repair does).
	Sealer Sealer

	// repair opens a writer even when the index does not explain the
	// data files, with lock already held (Repair only).
	repair bool
	lock   *fileLock
}

// Repo is an open archive repository. Its methods are safe for concurrent
// use; writes are serialised internally (one writer, many goroutines).
type Repo struct {
	dir      string
	readOnly bool
	report   progress.Reporter
	seq      int64 // number of the last index commit (meta commit_seq)
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
	flagIDs  map[string]int64 // flagsets ids by text (index.go)
	txGen    int64            // counts transactions ended (committed or rolled back)
	lookups  int              // hashes looked up in blobs (bloom.go)
	filter   *bloom           // the writer's filter of the hashes in blobs; nil until bloomAfter lookups
	// unindexable is the smallest blob id a search-index build could not
	// read (searchmark.go); 0: none.
	unindexable int64
	dirty       bool
	indexer     *searchIndexer // writes search.db; nil when read-only (searchindexer.go)
	closed      bool
	failed      error                // a write failed; the transaction was rolled back for everyone
	prepared    map[string]*sql.Stmt // on the writer connection, for the Repo's life
	txStmts     map[string]*sql.Stmt // the open transaction's forms of them
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

	r := &Repo{dir: dir, readOnly: opts.ReadOnly, report: opts.Report, seal: opts.Sealer, readers: map[int64]*os.File{}, packSize: opts.PackSize, clock: opts.Now}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.packSize <= 0 {
		r.packSize = 512 << 20
	}
	indexLost := false
	if !opts.ReadOnly {
		if r.lock = opts.lock; r.lock == nil {
			if r.lock, err = acquireLock(ctx, dir, opts.LockWait, opts.Purpose); err != nil {
				return nil, err
			}
		}
		r.fixModes()
		if indexLost, err = r.indexLost(opts.repair); err != nil {
			r.Close()
			return nil, err
		}
	}
	if err := r.openDB(ctx); err != nil {
		r.Close()
		return nil, err
	}
	r.enc = newFrameEncoder(encoderLevel(opts.Compression)) // zstd.go
	r.dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<40))
	if !opts.ReadOnly && !opts.repair {
		if err := r.recoverPacks(ctx, indexLost); err != nil {
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

// How the index is opened: the writer in WAL mode with full syncs; readers
// read-only, so that they work where they cannot write (a read-only
// mount, another user's archive): SQLite needs to create index.db-shm to
// read a WAL database, and where it cannot, the reader opens the file as
// immutable (it then sees the last checkpointed state, which is all of
// it once the last writer has closed).
const (
	dbWriter = iota
	dbReader
	dbImmutable
)

// writerCache is the writer connection's page cache, 8 MiB instead of
// 1: a backup looks every new message up in the hash index and adds to
// it, at random pages, and commits thousands of messages a transaction
// (backup/imapfetch.go); with 1 MiB the pages were read back from the
// file and dirty ones spilled into the WAL before the commit (200,000
// small messages: ~6% of the CPU). Only one such connection a process.
const writerCache = "&_pragma=cache_size(-4096)"

func sqliteDSN(path string, how int) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	// 1 MiB of page cache a connection (SQLite's default is 2 MB), up to
	// five of them: with search.db's that is most of the memory outside
	// the Go heap, and the 64 MB budget of a backup (cmd/mailkeep/main.go)
	// counts it. Measured on 50,000 messages: peak RSS 59 -> 50 MB, CPU
	// the same; verify and ls no slower (the OS caches the file).
	q.Add("_pragma", "cache_size(-1024)")
	switch how {
	case dbWriter:
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_txlock", "immediate")
	case dbReader:
		q.Set("mode", "ro")
	case dbImmutable:
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	}
	// The path is URI-escaped: a '#' or '?' in a directory name would
	// otherwise end the file name (SQLite URI filenames, RFC 3986).
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// indexLost reports whether index.db is missing; a writer refuses then
// when there are data files (the index must be rebuilt from them).
func (r *Repo) indexLost(repair bool) (bool, error) {
	_, err := os.Stat(filepath.Join(r.dir, "index.db"))
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("index: %w", err)
	}
	files, err := packFiles(r.dir)
	if err != nil || len(files) == 0 || repair {
		return len(files) > 0, err
	}
	return true, &NeedsRepairError{Dir: r.dir, Problems: []string{"index.db is missing but data/ holds " + dataFiles(len(files))}}
}

func (r *Repo) openDB(ctx context.Context) error {
	path := filepath.Join(r.dir, "index.db")
	if !r.readOnly {
		// Created by hand so that it is 0600 from the start (SQLite would
		// create it, and its -wal and -shm, with the umask's mode).
		if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
			f.Close()
		} else {
			return fmt.Errorf("index %s: %w", path, err)
		}
		// search.db is written by its own connection (searchindexer.go):
		// a transaction of this one never locks it.
		wdb, err := sql.Open("sqlite", sqliteDSN(path, dbWriter)+writerCache)
		if err != nil {
			return err
		}
		wdb.SetMaxOpenConns(1)
		r.wdb = wdb
		if err := migrateSchema(ctx, wdb, r.report); err != nil {
			return fmt.Errorf("index %s: %w", path, err)
		}
		if r.seq, err = commitSeq(ctx, wdb); err != nil {
			return fmt.Errorf("index %s: %w", path, err)
		}
		if err := r.prepare(ctx); err != nil {
			return fmt.Errorf("index %s: %w", path, err)
		}
		if r.indexer, err = startIndexer(ctx, r.dir); err != nil { // before the readers attach search.db
			return err
		}
		r.fixModes()
	}
	how := dbReader
	if !r.readOnly {
		how = dbWriter // a writer's readers: as they always were
	}
	v, err := r.openReaders(ctx, path, how)
	if err != nil && r.readOnly {
		// Where index.db-shm cannot be made, SQLite cannot read a WAL
		// database except as an immutable file.
		if v2, err2 := r.openReaders(ctx, path, dbImmutable); err2 == nil {
			v, err = v2, nil
		}
	}
	if err != nil {
		if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
			return fmt.Errorf("index %s is missing: run 'mailkeep repair' to rebuild it from the data files: %w", path, os.ErrNotExist)
		}
		return fmt.Errorf("index %s: cannot read format version: %w", path, err)
	}
	// A reader of a version 1 archive reads it through the shim of
	// upgrade.go; the first writer upgrades it.
	if n, _ := strconv.Atoi(v); n != FormatVersion && !(n == 1 && r.readOnly) {
		return fmt.Errorf("archive %s has format version %s; this mailkeep reads versions 1 and %d", r.dir, v, FormatVersion)
	}
	if !r.readOnly {
		// The marker names the version (an upgrade rewrites it after its
		// commit: killed in between, the next writer does).
		marker := filepath.Join(r.dir, "mailkeep-archive")
		if b, err := os.ReadFile(marker); err == nil && string(b) != formatMarker {
			if err := writeFileAtomic(marker, []byte(formatMarker), 0o600); err != nil {
				return fmt.Errorf("archive %s: %w", r.dir, err)
			}
		}
	}
	return nil
}

// openReaders opens the reader pool and reads the format version.
func (r *Repo) openReaders(ctx context.Context, path string, how int) (string, error) {
	if r.rdb != nil {
		r.rdb.Close()
		r.rdb = nil
	}
	rdb, err := openIndexDB(sqliteDSN(path, how), r.dir, how, false) // searchdb.go
	if err != nil {
		return "", err
	}
	rdb.SetMaxOpenConns(4)
	r.rdb = rdb
	var v string
	err = rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='format_version'`).Scan(&v)
	return v, err
}

// Dir is the repository's directory.
func (r *Repo) Dir() string { return r.dir }

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
	if r.indexer != nil {
		r.indexFresh() // searchindexer.go: the text of what this writer stored, unless too many
		r.indexer.close()
	}
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
