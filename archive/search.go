package archive

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/internal/mailtext"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// The search index: for every stored message a search_docs row (its date
// and whether it has attachments) and its decoded text in search_fts
// (FTS5). Messages are indexed once, by hash; the places (account,
// folder, flags) are joined in at query time. Messages are indexed after they are stored, not while
// (searchindexer.go); BuildSearchIndex adds whatever the index lacks.

const (
	// The id is the date shifted left by 20 bits plus a counter (docKey):
	// the FTS rowid order is then the date order, which FTS5 walks
	// newest first without sorting, so a search stops at its limit.
	sqlInsertDoc = `INSERT INTO search.search_docs(id, hash, date, attachments)
		SELECT coalesce(max(id)+1, ?1), ?2, ?3, ?4 FROM search.search_docs WHERE id BETWEEN ?1 AND ?1+1048575
		ON CONFLICT(hash) DO NOTHING`
	// When a message was first archived: the date of one without a
	// usable Date: header (now, for one no place names any more).
	sqlFirstSeen = `coalesce((SELECT min(m.first_seen) FROM messages m WHERE m.blob=b.id), strftime('%s','now'))`
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
	from := r.searchMark(ctx) // searchmark.go: all before it are known to be indexed
	err := r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM blobs b
		WHERE b.id>? AND b.pack<>0 AND NOT EXISTS (SELECT 1 FROM search.search_docs d WHERE d.hash=b.hash)`, from).Scan(&n)
	if err == nil && n == 0 && r.indexer != nil {
		// Nothing lacking: the mark moves to the newest message.
		var top int64
		if r.rdb.QueryRowContext(ctx, `SELECT coalesce(max(id),0) FROM blobs`).Scan(&top) == nil && top > from {
			r.setSearchMark(ctx, top)
		}
	}
	if err != nil && strings.Contains(err.Error(), "no such table") {
		err = r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM blobs WHERE pack<>0`).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return n, nil
}

// BuildSearchIndex indexes every stored message the search index lacks,
// reading them back from the packs (indexStream: text extracted on all
// cores beside the FTS5 inserts), committing every few hundred:
// interrupted, it goes on where it stopped the next time. rep (may be
// nil) gets a FolderStart with the total, an Item per message and a
// FolderDone, for account "search" and folder "index".
func (r *Repo) BuildSearchIndex(ctx context.Context, rep progress.Reporter) error {
	if r.readOnly || r.indexer == nil {
		return errors.New("search index: archive opened read-only")
	}
	r.indexer.take() // the scan below finds what this writer stored too
	total, err := r.SearchUnindexed(ctx)
	if err != nil || total == 0 {
		return err
	}
	progress.Send(rep, progress.Event{Kind: progress.FolderStart, Account: "search", Folder: "index", Total: total})
	defer progress.Send(rep, progress.Event{Kind: progress.FolderDone, Account: "search", Folder: "index"})
	var top int64 // the newest message when the scan begins (this writer adds none meanwhile)
	if err := r.rdb.QueryRowContext(ctx, `SELECT coalesce(max(id),0) FROM blobs`).Scan(&top); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	from := r.searchMark(ctx)
	complete := false
	r.unindexable = 0
	err = r.indexStream(ctx, rep, func(send func(*docJob) bool) error {
		last := from
		for {
			rows, err := r.rdb.QueryContext(ctx, `SELECT b.id, b.hash, b.pack, b.offset, b.length, b.size, `+sqlFirstSeen+` FROM blobs b
				WHERE b.id>? AND b.pack<>0 AND NOT EXISTS (SELECT 1 FROM search.search_docs d WHERE d.hash=b.hash) ORDER BY b.id LIMIT 500`, last)
			if err != nil {
				return fmt.Errorf("index: %w", err)
			}
			var page []*docJob
			for rows.Next() {
				j := &docJob{}
				var h []byte
				if err := rows.Scan(&last, &h, &j.b.Pack, &j.b.Offset, &j.b.Length, &j.b.Size, &j.stored); err != nil {
					rows.Close()
					return fmt.Errorf("index: %w", err)
				}
				copy(j.b.Hash[:], h)
				j.b.ID = last
				page = append(page, j)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("index: %w", err)
			}
			if len(page) == 0 {
				complete = true
				return nil
			}
			// The page is read before it is sent: the inserts commit while
			// it is sent, and no read may stay open across them.
			for _, j := range page {
				if !send(j) {
					return nil
				}
			}
		}
	})
	if err == nil && complete {
		// Every message up to top has its text now (indexStream returns
		// once the last batch committed), but those it could not read.
		if r.unindexable != 0 {
			top = min(top, r.unindexable-1)
		}
		for top > from {
			// The mark names an existing blob (its hash validates it).
			var ok int
			if r.rdb.QueryRowContext(ctx, `SELECT 1 FROM blobs WHERE id=?`, top).Scan(&ok) == nil {
				break
			}
			top--
		}
		if top > from {
			err = r.setSearchMark(ctx, top)
		}
	}
	return err
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
