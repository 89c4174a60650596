package archive

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// How many stored messages the search index lacks is asked before every
// search. Looking each of a million messages up in search_docs took 3.3 s
// of CPU (the search itself: milliseconds). Blob ids only grow, so a
// complete scan leaves a mark in search.db: search_meta 'checked' = "ID
// HASH", every stored message with a blob id up to ID has its text, and
// blob ID is the message with that hash (an index rebuilt by repair, whose
// ids differ, voids the mark). Later scans start after it. The mark is
// only ever conservative: a missing message stored again keeps its old id,
// and the writer drops the mark before that store commits (dropMark).

// searchMark is the checked blob id, 0 when there is no valid mark.
func (r *Repo) searchMark(ctx context.Context) int64 {
	var v string
	if err := r.rdb.QueryRowContext(ctx, `SELECT value FROM search.search_meta WHERE key='checked'`).Scan(&v); err != nil {
		return 0
	}
	id, want, ok := strings.Cut(v, " ")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 {
		return 0
	}
	var h []byte
	if err := r.rdb.QueryRowContext(ctx, `SELECT hash FROM blobs WHERE id=?`, n).Scan(&h); err != nil || hex.EncodeToString(h) != want {
		return 0
	}
	return n
}

// SearchMarked reports whether the search index has a valid mark, so
// that SearchUnindexed looks only at messages stored after it. Without
// one it looks at every message (seconds at a million): a writer's
// SearchUnindexed, or BuildSearchIndex, makes one.
func (r *Repo) SearchMarked(ctx context.Context) bool { return r.searchMark(ctx) > 0 }

// setSearchMark records that every stored message up to blob id top has
// its text (a complete scan found none lacking). Writers only.
func (r *Repo) setSearchMark(ctx context.Context, top int64) error {
	if r.indexer == nil || top <= 0 {
		return nil
	}
	var h []byte
	if err := r.rdb.QueryRowContext(ctx, `SELECT hash FROM blobs WHERE id=?`, top).Scan(&h); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	_, err := r.indexer.db.ExecContext(ctx, `INSERT OR REPLACE INTO search.search_meta(key, value) VALUES('checked', ?)`,
		strconv.FormatInt(top, 10)+" "+hex.EncodeToString(h))
	return err
}

// dropMark forgets the mark: a message is being stored under an id it
// may cover (putFrame, storing a missing message again). It is done
// before the store commits, so a crash leaves no mark rather than a wrong one.
func (x *searchIndexer) dropMark(ctx context.Context) error {
	_, err := x.db.ExecContext(ctx, `DELETE FROM search.search_meta WHERE key='checked'`)
	return err
}
