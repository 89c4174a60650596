package archive

import (
	"context"
	"fmt"
	"testing"
)

// With the filter built (after bloomAfter lookups, in the middle of a
// transaction), every message already stored is still found, committed
// or pending, stored or missing, and every new one is stored once.
func TestBlobFilterFindsEveryStoredMessage(t *testing.T) {
	old := bloomAfter
	bloomAfter = 40
	defer func() { bloomAfter = old }()
	ctx := context.Background()
	r, _ := newRepo(t)
	acct, _ := r.Account(ctx, "a", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	msg := func(i int) []byte { return []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i)) }
	for i := 0; i < 30; i++ { // committed
		if _, _, err := r.PutMessage(ctx, msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A place whose message is not stored: a blobs row of pack 0.
	missing := msg(1000)
	if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: 1, Hash: HashBytes(missing), Size: int64(len(missing))}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 30; i < 60; i++ { // pending when the filter is built
		if _, _, err := r.PutMessage(ctx, msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if r.filter == nil {
		t.Fatalf("no filter after %d lookups", r.lookups)
	}
	for i := 0; i < 60; i++ {
		if _, added, err := r.PutMessage(ctx, msg(i)); err != nil || added {
			t.Fatalf("message %d stored again (added %v, %v)", i, added, err)
		}
	}
	if _, added, err := r.PutMessage(ctx, missing); err != nil || !added {
		t.Fatalf("the missing message: added %v, %v; want stored into its row", added, err)
	}
	for i := 60; i < 100; i++ {
		if _, added, err := r.PutMessage(ctx, msg(i)); err != nil || !added {
			t.Fatalf("new message %d: added %v, %v", i, added, err)
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Added after the filter was built, and committed: no longer pending.
	for _, raw := range append([][]byte{missing}, msg(60), msg(99)) {
		if _, added, err := r.PutMessage(ctx, raw); err != nil || added {
			t.Fatalf("%q stored again (added %v, %v)", raw, added, err)
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var rows, distinct, stored int
	r.rdb.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT hash), sum(pack<>0) FROM blobs`).Scan(&rows, &distinct, &stored)
	if rows != 101 || distinct != 101 || stored != 101 {
		t.Fatalf("blobs: %d rows, %d distinct, %d stored; want 101 of each", rows, distinct, stored)
	}
}
