package archive

import (
	"context"
	"testing"
)

// TestLedger: rows written, read back in UID order (uncommitted ones by
// the writer, committed ones by a reader), re-pointed, forgotten; the
// flags column is added on first use and a reader of an archive that has
// never had it still reads the ledger.
func TestLedger(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	if _, err := r.rdb.ExecContext(ctx, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	// An archive written before the flags column: readers cope.
	ro, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := ro.Ledger(ctx, "t", "INBOX", 7); err != nil || len(rows) != 0 {
		t.Fatalf("Ledger on an archive without the flags column = %v, %v", rows, err)
	}
	ro.Close()

	h := HashBytes([]byte("x"))
	for _, uid := range []uint32{12, 10, 11} {
		e := &LedgerEntry{Target: "t", Folder: "INBOX", UIDValidity: 7, UID: uid, Hash: h, Source: int64(uid), How: LedgerAppend, Flags: `\Seen`}
		if err := r.AddLedger(ctx, e); err != nil || e.ID == 0 {
			t.Fatalf("AddLedger = %v, id %d", err, e.ID)
		}
	}
	if err := r.AddLedger(ctx, &LedgerEntry{Target: "t", Folder: "INBOX", UIDValidity: 8, UID: 1, Hash: h, How: LedgerAdopt}); err != nil {
		t.Fatal(err)
	}
	rows, err := r.Ledger(ctx, "t", "INBOX", 7)
	if err != nil || len(rows) != 3 || rows[0].UID != 10 || rows[2].UID != 12 || rows[0].Flags != `\Seen` || rows[0].Hash != h {
		t.Fatalf("Ledger (uncommitted, by the writer) = %+v, %v", rows, err)
	}
	if err := r.UpdateLedger(ctx, rows[0].ID, 99, `\Seen \Answered`); err != nil {
		t.Fatal(err)
	}
	if err := r.ForgetLedger(ctx, []int64{rows[2].ID}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ro, err = Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rows, err = ro.Ledger(ctx, "t", "INBOX", 7)
	if err != nil || len(rows) != 2 || rows[0].Source != 99 || rows[0].Flags != `\Seen \Answered` || rows[1].UID != 11 {
		t.Fatalf("Ledger (committed, by a reader) = %+v, %v", rows, err)
	}
	if rows, _ := ro.Ledger(ctx, "t", "INBOX", 8); len(rows) != 1 || rows[0].How != LedgerAdopt {
		t.Errorf("other UIDVALIDITY: %+v", rows)
	}
}
