package archive

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/mailtext"
)

// The indexer holds a bounded amount of text whatever the messages: 64
// messages of the largest text a message keeps (256 KiB each, 16 MiB in
// all) never have more than maxQueuedText waiting, and all are indexed.
func TestSearchIndexerBoundsText(t *testing.T) {
	ctx := context.Background()
	x, err := startIndexer(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	const n = 64
	body := strings.Repeat("lorem ipsum ", mailtext.MaxBody/12)
	peak := 0
	for i := range n {
		d := &mailtext.Doc{Subject: fmt.Sprintf("big %d", i), Body: body}
		x.add(Hash(sha256.Sum256([]byte(d.Subject))), d, time.Unix(1e9, 0))
		x.qmu.Lock()
		peak = max(peak, x.queued)
		x.qmu.Unlock()
	}
	if err := x.flush(); err != nil {
		t.Fatal(err)
	}
	if peak > maxQueuedText {
		t.Errorf("%d bytes of text queued at once, budget %d", peak, maxQueuedText)
	}
	var docs, fts int
	x.db.QueryRowContext(ctx, `SELECT count(*) FROM search.search_docs`).Scan(&docs)
	x.db.QueryRowContext(ctx, `SELECT count(*) FROM search.search_fts WHERE search_fts MATCH 'lorem'`).Scan(&fts)
	if docs != n || fts != n {
		t.Errorf("indexed %d docs, %d match, want %d", docs, fts, n)
	}
}
