package archive

import (
	"context"
	"testing"
)

// A crash can leave the search index both short of a committed message
// (its transaction lost: search.db syncs NORMAL) and holding text of one
// the index never committed (the indexer commits on its own, before the
// index.db transaction that failed). Counting rows would let the two
// cancel out and the committed message would never be indexed.
func TestSearchUnindexedNotFooledByStrayDocs(t *testing.T) {
	ctx := context.Background()
	fx := newSearchFixture(t)
	r := fx.repo
	// Stored and committed while its search transaction is lost.
	x := r.indexer
	r.indexer = nil
	acct, _ := r.Account(ctx, "work", "imap")
	inbox, _ := r.Folder(ctx, acct, "INBOX")
	raw := "From: x@example.org\r\nSubject: lost text\r\nDate: Mon, 02 Mar 2020 11:00:00 +0000\r\n\r\nzebra\r\n"
	h, _, err := r.PutMessage(ctx, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddMessage(ctx, &Message{Folder: inbox.ID, UIDValidity: 1, UID: 99, Hash: h, Size: int64(len(raw))}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r.indexer = x
	// The text of a message whose index.db transaction failed.
	if _, err := x.db.ExecContext(ctx, `INSERT INTO search.search_docs(id, hash, date) VALUES(1, zeroblob(32), 0)`); err != nil {
		t.Fatal(err)
	}
	if n, err := r.SearchUnindexed(ctx); err != nil || n != 1 {
		t.Fatalf("SearchUnindexed = %d, %v; want 1 (one stored message lacks its text)", n, err)
	}
	if err := r.BuildSearchIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := fx.search(t, "zebra", false); len(got) != 1 {
		t.Errorf("after BuildSearchIndex: zebra finds %v", got)
	}
}
