package archive

import (
	"context"
	"fmt"
	"testing"
)

// The search index's mark: after a complete build only newer messages
// are counted; a message stored again under an old id (it was missing)
// is counted again; a mark that names another message (a rebuilt index)
// is not trusted.
func TestSearchMark(t *testing.T) {
	ctx := context.Background()
	fx := newSearchFixture(t)
	r := fx.repo
	acct, _ := r.Account(ctx, "work", "imap")
	inbox, _ := r.Folder(ctx, acct, "INBOX")
	store := func(uid uint32, word string) Hash {
		t.Helper()
		// Stored as a backup stores it: the text is added later (at
		// Close, or by a search), not here.
		raw := fmt.Sprintf("From: x@example.org\r\nSubject: %s\r\nDate: Mon, 02 Mar 2020 11:00:00 +0000\r\n\r\n%s\r\n", word, word)
		h, _, err := r.PutMessage(ctx, []byte(raw))
		if err == nil {
			err = r.AddMessage(ctx, &Message{Folder: inbox.ID, UIDValidity: 1, UID: uid, Hash: h, Size: int64(len(raw))})
		}
		if err == nil {
			err = r.Commit(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	unindexed := func(want int64) {
		t.Helper()
		if n, err := r.SearchUnindexed(ctx); err != nil || n != want {
			t.Fatalf("SearchUnindexed = %d, %v; want %d", n, err, want)
		}
	}
	store(101, "alpha")
	unindexed(1)
	if err := r.BuildSearchIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	mark := r.searchMark(ctx)
	var top int64
	r.rdb.QueryRowContext(ctx, `SELECT max(id) FROM blobs`).Scan(&top)
	if mark != top {
		t.Fatalf("mark %d after a complete build, want the newest blob %d", mark, top)
	}
	unindexed(0)

	// Newer messages are counted (and only they are looked at).
	lost := store(102, "bravo")
	unindexed(1)
	if err := r.BuildSearchIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	unindexed(0)
	// bravo's text is lost (say search.db lost a transaction) and then
	// its copy is found damaged; a backup stores it again, under its old
	// id, which the mark covers: it must be counted again.
	if _, err := r.indexer.db.ExecContext(ctx, `DELETE FROM search.search_docs WHERE hash=?`, lost[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.MarkMissing(ctx, []Hash{lost}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	store(102, "bravo")
	unindexed(1)
	if err := r.BuildSearchIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := fx.search(t, "bravo", false); len(got) != 1 {
		t.Fatalf("bravo finds %v", got)
	}

	// A mark naming another message's id is not trusted.
	if _, err := r.indexer.db.ExecContext(ctx, `UPDATE search.search_meta SET value=? WHERE key='checked'`,
		fmt.Sprintf("%d %064x", r.searchMark(ctx), 0)); err != nil {
		t.Fatal(err)
	}
	if m := r.searchMark(ctx); m != 0 {
		t.Fatalf("mark with the wrong hash = %d, want 0", m)
	}
}
