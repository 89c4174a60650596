package archive

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/mailkeep/mailkeep/internal/mailtext"
)

// The search index is written by a goroutine of its own, on its own
// connection to search.db, so that the FTS5 inserts (the costly part:
// tokenizing every word) run beside the backup instead of inside the
// writer lock. Commit waits until every message stored before it is in
// the index too, so a committed message is searchable.

type indexJob struct {
	hash   Hash
	doc    *mailtext.Doc
	stored time.Time
	flush  chan error // a flush marker instead of a message
}

type searchIndexer struct {
	db   *sql.DB
	ch   chan indexJob
	done chan struct{}

	mu     sync.RWMutex // held to send on ch; closed under the write lock
	closed bool

	qmu    sync.Mutex // guards queued
	qcond  *sync.Cond
	queued int // text bytes sent on ch and not yet staged
}

// The memory the index may hold whatever the messages: text waiting in
// the queue, and text staged (in SQLite's memory) for the next FTS
// insert. A message's text is at most mailtext.MaxBody (256 KiB), so a
// count alone (1024 queued, 2000 staged) could hold hundreds of MB of a
// mailbox of large newsletters or logs. FTS5 also holds the tokens of a
// whole staged batch while it inserts it. Measured on the lab corpus
// (20,000 messages, 645 MB): 4 MiB each, peak RSS 72-74 MB; 1 MiB each,
// 64 MB at the same CPU time within noise (without the index: 54 MB).
const (
	maxQueuedText = 1 << 20
	maxStagedText = 1 << 20
)

// textSize is what a doc's text weighs in those budgets.
func textSize(d *mailtext.Doc) int {
	return len(d.From) + len(d.To) + len(d.Cc) + len(d.Subject) + len(d.Body)
}

// openSearchDB opens search.db for writing, alone on its connection, as
// schema "search" (the SQL is the same as through the index's readers).
func openSearchDB(dir string) (*sql.DB, error) {
	path := searchFile(dir)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("search index %s: %w", path, err)
	}
	f.Close()
	db := sql.OpenDB(&searchConnector{path: path})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return db, nil
}

type searchConnector struct{ path string }

func (c *searchConnector) Driver() driver.Driver { return &sqlite.Driver{} }

func (c *searchConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := (&sqlite.Driver{}).Open("file::memory:?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	ex := conn.(driver.ExecerContext)
	// Derived data: a crash may lose its last transaction, which the next
	// search rebuilds (SearchUnindexed); NORMAL saves an fsync a commit.
	// A small page cache (as on the index's connections, searchdb.go).
	for i, q := range []string{`ATTACH DATABASE ? AS search`, `PRAGMA search.cache_size=-512`, `PRAGMA search.journal_mode=WAL`, `PRAGMA search.synchronous=NORMAL`,
		`CREATE TABLE IF NOT EXISTS main.stage (id INTEGER PRIMARY KEY, hfrom, hto, hcc, subject, body)`} {
		var args []driver.NamedValue
		if i == 0 {
			args = []driver.NamedValue{{Ordinal: 1, Value: c.path}}
		}
		if _, err := ex.ExecContext(ctx, q, args); err != nil {
			conn.Close()
			return nil, fmt.Errorf("search index %s: %w", c.path, err)
		}
	}
	return conn, nil
}

// startIndexer opens search.db, brings its schema up to date and starts
// the goroutine that writes it.
func startIndexer(ctx context.Context, dir string) (*searchIndexer, error) {
	db, err := openSearchDB(dir)
	if err != nil {
		return nil, err
	}
	if err := checkSearchVersion(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := db.ExecContext(ctx, searchSchemaSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("search index: %w", err)
	}
	x := &searchIndexer{db: db, ch: make(chan indexJob, 1024), done: make(chan struct{})}
	x.qcond = sync.NewCond(&x.qmu)
	go x.loop()
	return x, nil
}

// loop writes queued messages. A transaction lasts until a flush (the
// writer's Commit) or a few thousand messages: FTS5 writes a segment per
// transaction and merges them, so one a message would cost several times
// the insert itself.
func (x *searchIndexer) loop() {
	defer close(x.done)
	var tx *sql.Tx
	var err error
	n, staged := 0, 0
	end := func() error {
		if tx == nil {
			e := err
			err = nil
			return e
		}
		if err == nil {
			err = commitDocs(tx)
		} else {
			tx.Rollback()
		}
		// A failure leaves the messages unindexed: the next search adds
		// them (SearchUnindexed). It is not the archive's failure.
		e := err
		tx, err, n, staged = nil, nil, 0, 0
		return e
	}
	for j := range x.ch {
		if j.flush != nil {
			j.flush <- end()
			continue
		}
		if tx == nil && err == nil {
			tx, err = x.db.Begin()
		}
		if err == nil {
			err = insertDoc(tx, j.hash, j.doc, j.stored)
		}
		size := textSize(j.doc)
		x.qmu.Lock()
		x.queued -= size
		x.qcond.Broadcast()
		x.qmu.Unlock()
		staged += size
		if n++; n >= 2000 || staged >= maxStagedText {
			end()
		}
	}
	end()
}

// add queues a stored message for the index.
func (x *searchIndexer) add(h Hash, d *mailtext.Doc, stored time.Time) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return
	}
	size := textSize(d)
	x.qmu.Lock()
	for x.queued > 0 && x.queued+size > maxQueuedText {
		x.qcond.Wait() // the loop takes text off the queue and wakes us
	}
	x.queued += size
	x.qmu.Unlock()
	x.ch <- indexJob{hash: h, doc: d, stored: stored}
}

// flush waits until everything queued before it is committed.
func (x *searchIndexer) flush() error {
	c := make(chan error, 1)
	x.mu.RLock()
	if x.closed {
		x.mu.RUnlock()
		return nil
	}
	x.ch <- indexJob{flush: c}
	x.mu.RUnlock()
	return <-c
}

// close writes what is queued and closes search.db; later calls do nothing.
func (x *searchIndexer) close() {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	x.closed = true
	close(x.ch)
	x.mu.Unlock()
	<-x.done
	x.db.Exec(`PRAGMA search.wal_checkpoint(TRUNCATE)`)
	x.db.Close()
}

// insertDoc adds h's text to the index in tx; stored dates a message
// that has no Date header.
func insertDoc(tx *sql.Tx, h Hash, d *mailtext.Doc, stored time.Time) error {
	date := stored
	if d.HasDate {
		date = d.Date
	}
	res, err := tx.Exec(sqlInsertDoc, docKey(date), h[:], date.Unix(), d.Attachments)
	if err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO main.stage(id, hfrom, hto, hcc, subject, body) VALUES(?,?,?,?,?,?)`,
		id, d.From, d.To, d.Cc, d.Subject, d.Body); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}

// commitDocs moves the staged text into the FTS table in one statement
// and commits. FTS5 writes a new segment at every statement that writes
// it inside a transaction (its xSavepoint flushes): one INSERT a message
// made storing 1.5 ms a message, one a batch a small fraction of that.
func commitDocs(tx *sql.Tx) error {
	for _, q := range []string{sqlInsertFTS, `DELETE FROM main.stage`} {
		if _, err := tx.Exec(q); err != nil {
			tx.Rollback()
			return fmt.Errorf("search index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}
