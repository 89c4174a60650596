package archive

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/mailkeep/mailkeep/internal/mailtext"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// The search index is not written while messages are stored. Extracting
// a message's text and adding it to FTS5 cost ~0.35 ms of CPU a message
// (measured: ~43% of a backup's CPU), several times what storing a small
// message costs. A writer only notes what it stored (note, from
// putFrame); the text is added afterwards, read back from the packs:
//
//	Close:  at most freshLimit messages stored by this writer -> indexed now
//	Search: a writer's own search first indexes what it stored
//	else:   'mailkeep search' (and serve, --query) builds what the index
//	        lacks, with a progress bar (BuildSearchIndex)
//
// Every batch commits on its own, so an interrupted catch-up (Ctrl-C,
// kill -9) loses at most the batch in progress, which the next one redoes.

// freshLimit is how many stored messages a writer indexes when it closes
// (~0.3 ms each: at most about half a second). A larger run leaves them
// to the first search, which shows its progress.
var freshLimit = 2000

// IndexesAtClose is how many stored messages a writer indexes itself
// when it closes; after a larger run the index lacks them until
// BuildSearchIndex.
func IndexesAtClose() int { return freshLimit }

// docBatch is how many messages one search.db transaction indexes: FTS5
// writes a segment a transaction, and merges them.
const docBatch = 500

type searchIndexer struct {
	db *sql.DB

	mu       sync.Mutex
	fresh    map[int64]struct{} // blob ids stored by this writer, not yet indexed
	overflow bool               // more than freshLimit: fresh was dropped
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

// startIndexer opens search.db and brings its schema up to date.
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
	return &searchIndexer{db: db, fresh: map[int64]struct{}{}}, nil
}

// note records that blob id was stored (in the open transaction: it may
// roll back, and the id name another message later, which is then
// indexed if it lacks its text).
func (x *searchIndexer) note(id int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.overflow {
		return
	}
	if len(x.fresh) >= freshLimit {
		x.overflow, x.fresh = true, nil
		return
	}
	x.fresh[id] = struct{}{}
}

// take empties the list of fresh messages; all is false when it had
// overflowed (the index then lacks messages it does not name).
func (x *searchIndexer) take() (fresh []int64, all bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id := range x.fresh {
		fresh = append(fresh, id)
	}
	slices.Sort(fresh) // the order they are in the packs
	all = !x.overflow
	x.fresh, x.overflow = map[int64]struct{}{}, false
	return fresh, all
}

// lost forgets which messages are fresh: the next catch-up scans.
func (x *searchIndexer) lost() {
	x.mu.Lock()
	x.overflow, x.fresh = true, nil
	x.mu.Unlock()
}

// close closes search.db.
func (x *searchIndexer) close() {
	x.db.Exec(`PRAGMA search.wal_checkpoint(TRUNCATE)`)
	x.db.Close()
}

// indexFresh indexes what this writer stored, when it was at most
// freshLimit messages (Close calls it; errors leave them to the next
// search, which finds them missing).
func (r *Repo) indexFresh() {
	if r.indexer == nil {
		return
	}
	fresh, all := r.indexer.take()
	if !all || len(fresh) == 0 {
		return
	}
	ctx := context.Background()
	if r.indexBlobs(ctx, fresh) == nil && r.searchMark(ctx) > 0 {
		// Cheap when the mark is recent (it looks at what came after
		// it) and it moves the mark on: the next search's check is too.
		r.SearchUnindexed(ctx)
	}
}

// catchUpSearch makes a writer's index hold everything it committed,
// before it searches.
func (r *Repo) catchUpSearch(ctx context.Context) error {
	if r.indexer == nil {
		return nil
	}
	fresh, all := r.indexer.take()
	if !all {
		return r.BuildSearchIndex(ctx, nil)
	}
	if err := r.indexBlobs(ctx, fresh); err != nil {
		r.indexer.lost() // the next search scans for what is missing
		return err
	}
	return nil
}

// indexBlobs indexes the committed messages among the blob ids that the
// index lacks.
func (r *Repo) indexBlobs(ctx context.Context, ids []int64) error {
	return r.indexStream(ctx, nil, func(send func(*docJob) bool) error {
		for _, id := range ids {
			j := &docJob{}
			var hash []byte
			err := r.rdb.QueryRowContext(ctx, `SELECT b.hash, b.pack, b.offset, b.length, b.size, `+sqlFirstSeen+` FROM blobs b
				WHERE b.id=? AND b.pack<>0 AND NOT EXISTS (SELECT 1 FROM search.search_docs d WHERE d.hash=b.hash)`, id).
				Scan(&hash, &j.b.Pack, &j.b.Offset, &j.b.Length, &j.b.Size, &j.stored)
			if errors.Is(err, sql.ErrNoRows) {
				continue // never committed, or indexed already
			}
			if err != nil {
				return fmt.Errorf("index: %w", err)
			}
			j.b.ID = id
			copy(j.b.Hash[:], hash)
			if !send(j) {
				return nil
			}
		}
		return nil
	})
}

// docJob is one stored message on its way into the search index.
type docJob struct {
	b      Blob
	stored int64 // when it was archived (Unix seconds): its date when it has no Date header
	doc    *mailtext.Doc
	err    error
}

// maxStagedText bounds the text one search.db transaction stages (FTS5
// also holds its tokens while it inserts them): a message keeps up to
// mailtext.MaxBody (256 KiB) of text, so a count alone could stage
// hundreds of MB of a mailbox of large newsletters.
const maxStagedText = 1 << 20

// textSize is what a doc's text weighs in that budget.
func textSize(d *mailtext.Doc) int {
	return len(d.From) + len(d.To) + len(d.Cc) + len(d.Subject) + len(d.Body)
}

// indexStream indexes the messages feed sends: they are read back from
// the packs and their text extracted on all cores while one goroutine
// adds the text to the index, committing every docBatch messages or
// maxStagedText of text. feed stops when send returns false (the
// indexing failed or ctx ended). rep gets an Item a message once it is
// committed (account "search", folder "index").
func (r *Repo) indexStream(ctx context.Context, rep progress.Reporter, feed func(send func(*docJob) bool) error) error {
	workers := runtime.GOMAXPROCS(0)
	in := make(chan *docJob, workers)
	out := make(chan *docJob, workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range in {
				j.doc, j.err = r.docOf(j.b)
				out <- j
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()
	insErr := make(chan error, 1)
	go func() {
		var err error
		defer func() { insErr <- err }()
		err = r.insertDocs(ctx, out, rep)
		if err != nil {
			close(stop)
			for range out { // let the workers finish
			}
		}
	}()
	send := func(j *docJob) bool {
		select {
		case in <- j:
			return ctx.Err() == nil
		case <-stop:
			return false
		}
	}
	ferr := feed(send)
	close(in)
	err := <-insErr
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

var testHookDocInserted func(n int)

// insertDocs adds what arrives on docs to the index, in transactions of
// docBatch messages or maxStagedText of text.
func (r *Repo) insertDocs(ctx context.Context, docs <-chan *docJob, rep progress.Reporter) error {
	wctx := context.WithoutCancel(ctx)
	var tx *sql.Tx
	var done []int64 // sizes of the messages in tx
	staged, inserted := 0, 0
	commit := func() error {
		if tx == nil {
			return nil
		}
		err := commitDocs(tx)
		tx = nil
		if err != nil {
			return err
		}
		for _, n := range done {
			progress.Send(rep, progress.Event{Kind: progress.Item, Account: "search", Folder: "index", Bytes: n})
		}
		done, staged = done[:0], 0
		return ctx.Err()
	}
	for j := range docs {
		if j.err != nil {
			// A damaged message is verify's to report; the index goes on
			// without it (it is tried again next time: the mark stays
			// below it, searchmark.go).
			if r.unindexable == 0 || j.b.ID < r.unindexable {
				r.unindexable = j.b.ID
			}
			continue
		}
		if tx == nil {
			var err error
			if tx, err = r.indexer.db.BeginTx(wctx, nil); err != nil {
				return fmt.Errorf("search index: %w", err)
			}
		}
		if err := insertDoc(tx, j.b.Hash, j.doc, time.Unix(j.stored, 0)); err != nil {
			tx.Rollback()
			return err
		}
		done = append(done, j.b.Size)
		if inserted++; testHookDocInserted != nil {
			testHookDocInserted(inserted) // kill tests
		}
		staged += textSize(j.doc)
		j.doc = nil
		if len(done) >= docBatch || staged >= maxStagedText {
			if err := commit(); err != nil {
				return err
			}
		}
	}
	return commit()
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
