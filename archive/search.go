package archive

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mailkeep/mailkeep/internal/mailtext"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// The search index: for every stored message a search_docs row (its date
// and whether it has attachments) and its decoded text in search_fts
// (FTS5). Messages are indexed once, by hash, in the same transaction
// that stores them; the places (account, folder, flags) are joined in at
// query time. An archive made before the index has it built once by
// BuildSearchIndex.

const (
	// The id is the date shifted left by 20 bits plus a counter (docKey):
	// the FTS rowid order is then the date order, which FTS5 walks
	// newest first without sorting, so a search stops at its limit.
	sqlInsertDoc = `INSERT INTO search.search_docs(id, hash, date, attachments)
		SELECT coalesce(max(id)+1, ?1), ?2, ?3, ?4 FROM search.search_docs WHERE id BETWEEN ?1 AND ?1+1048575
		ON CONFLICT(hash) DO NOTHING`
	sqlInsertFTS = `INSERT INTO search.search_fts(rowid, hfrom, hto, hcc, subject, body)
		SELECT id, hfrom, hto, hcc, subject, body FROM main.stage ORDER BY id`
)

// searchDoc extracts what the index holds of raw.
func searchDoc(raw []byte) *mailtext.Doc {
	d := mailtext.Extract(raw)
	return &d
}

// docKey is the smallest search_docs id of a message dated t: seconds
// since 1970 (clamped to 0 .. 2^42), shifted left by 20 bits.
func docKey(t time.Time) int64 {
	return min(max(t.Unix(), 0), 1<<42) << 20
}

// searchVersion is the layout of search.db this code writes; another
// one is dropped and rebuilt (it is derived data).
const searchVersion = "2"

// checkSearchVersion drops a search index of another layout. It runs
// when the writer opens, before the schema is created.
func checkSearchVersion(ctx context.Context, db *sql.DB) error {
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM search.search_meta WHERE key='version'`).Scan(&v)
	if err == nil && v == searchVersion {
		return nil
	}
	for _, q := range []string{`DROP TABLE IF EXISTS search.search_fts`, `DROP TABLE IF EXISTS search.search_docs`,
		`CREATE TABLE IF NOT EXISTS search.search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`INSERT OR REPLACE INTO search.search_meta(key, value) VALUES('version', '` + searchVersion + `')`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
	}
	return nil
}

// SearchUnindexed is how many stored messages the search index lacks (all
// of them in an archive that predates it). It looks each one up: the
// index may also hold text of messages index.db never committed (the
// indexer commits on its own), and row counts would let those hide the
// ones it lost in a crash.
func (r *Repo) SearchUnindexed(ctx context.Context) (int64, error) {
	var n int64
	err := r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM blobs b
		WHERE b.pack<>0 AND NOT EXISTS (SELECT 1 FROM search.search_docs d WHERE d.hash=b.hash)`).Scan(&n)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		err = r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM blobs WHERE pack<>0`).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return n, nil
}

// BuildSearchIndex indexes every stored message the search index lacks,
// reading them back from the packs on all cores, and commits every few
// hundred: interrupted, it goes on where it stopped the next time.
// rep (may be nil) gets a FolderStart with the total, an Item per
// message and a FolderDone, for account "search" and folder "index".
func (r *Repo) BuildSearchIndex(ctx context.Context, rep progress.Reporter) error {
	if r.readOnly || r.indexer == nil {
		return errors.New("search index: archive opened read-only")
	}
	// What the writer queued is in first (the count below sees it).
	if err := r.indexer.flush(); err != nil {
		return err
	}
	total, err := r.SearchUnindexed(ctx)
	if err != nil || total == 0 {
		return err
	}
	type job struct {
		b      Blob
		stored int64
		doc    *mailtext.Doc
		err    error
	}
	var last int64
	progress.Send(rep, progress.Event{Kind: progress.FolderStart, Account: "search", Folder: "index", Total: total})
	defer progress.Send(rep, progress.Event{Kind: progress.FolderDone, Account: "search", Folder: "index"})
	for {
		rows, err := r.rdb.QueryContext(ctx, `SELECT b.id, b.hash, b.pack, b.offset, b.length, b.size FROM blobs b
			WHERE b.id>? AND b.pack<>0 AND NOT EXISTS (SELECT 1 FROM search.search_docs d WHERE d.hash=b.hash) ORDER BY b.id LIMIT 500`, last)
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		var batch []*job
		for rows.Next() {
			j := &job{}
			var h []byte
			if err := rows.Scan(&last, &h, &j.b.Pack, &j.b.Offset, &j.b.Length, &j.b.Size); err != nil {
				rows.Close()
				return fmt.Errorf("index: %w", err)
			}
			copy(j.b.Hash[:], h)
			j.stored = r.Now().Unix() // what dates a message without a usable Date: header
			batch = append(batch, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		var wg sync.WaitGroup
		next := make(chan *job)
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range next {
					j.doc, j.err = r.docOf(j.b)
				}
			}()
		}
		for _, j := range batch {
			next <- j
		}
		close(next)
		wg.Wait()
		tx, err := r.indexer.db.BeginTx(context.WithoutCancel(ctx), nil)
		if err != nil {
			return fmt.Errorf("search index: %w", err)
		}
		for _, j := range batch {
			if j.err != nil {
				// A damaged message is verify's to report; the index goes on
				// without it (it is tried again next time).
				continue
			}
			if err := insertDoc(tx, j.b.Hash, j.doc, time.Unix(j.stored, 0)); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := commitDocs(tx); err != nil {
			return err
		}
		for _, j := range batch {
			progress.Send(rep, progress.Event{Kind: progress.Item, Account: "search", Folder: "index", Bytes: j.b.Size})
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// docOf reads a stored message back and extracts its text; messages too
// large to hold are indexed by their first 64 KiB.
func (r *Repo) docOf(b Blob) (*mailtext.Doc, error) {
	if b.Size <= bigMessage {
		raw, err := r.readBlob(b)
		if err != nil {
			return nil, err
		}
		return searchDoc(raw), nil
	}
	rc, err := r.openBlob(b)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var head bytes.Buffer
	if _, err := head.ReadFrom(io.LimitReader(rc, 64<<10)); err != nil {
		return nil, err
	}
	return searchDoc(head.Bytes()), nil
}
