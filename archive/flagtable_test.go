package archive

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMessageFlagsTable(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	acct, _ := r.Account(ctx, "a", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	want := map[uint32]string{}
	for uid := uint32(1); uid <= 50; uid++ {
		raw := []byte(fmt.Sprintf("Subject: %d\r\n\r\n%d\r\n", uid, uid))
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		var flags []string
		switch uid % 3 {
		case 1:
			flags = []string{`\Seen`}
		case 2:
			flags = []string{`\Seen`, `\Flagged`}
		}
		if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 5, UID: uid * 2, Hash: h, Size: int64(len(raw)), Flags: flags}); err != nil {
			t.Fatal(err)
		}
		want[uid*2] = JoinFlags(flags)
	}
	// Gone places are not in the table; another UIDVALIDITY's neither.
	if err := r.MarkGone(ctx, f.ID, 5, []uint32{10, 20}, nil, GoneExpunged, time.Now()); err != nil {
		t.Fatal(err)
	}
	delete(want, 10)
	delete(want, 20)
	tab, err := r.MessageFlags(ctx, f.ID, 5) // inside the open transaction
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", tab.Len(), len(want))
	}
	for uid := uint32(0); uid <= 101; uid++ {
		got, ok := tab.Get(uid)
		w, wok := want[uid]
		if ok != wok || got != w {
			t.Errorf("Get(%d) = %q, %v; want %q, %v", uid, got, ok, w, wok)
		}
	}
	if other, _ := r.MessageFlags(ctx, f.ID, 6); other.Len() != 0 {
		t.Errorf("another UIDVALIDITY: %d messages", other.Len())
	}
}

// dateField finds what ParseHeader finds for Date:, without the rest.
func TestDateFieldMatchesParseHeader(t *testing.T) {
	msgs := [][]byte{
		[]byte("Subject: x\r\nDate: Tue, 5 Mar 2019 10:00:00 -0800\r\n\r\nbody\r\n"),
		[]byte("DATE:Tue, 5 Mar 2019 10:00:00 -0800\n\nDate: not this one\n"),
		[]byte("Date : Tue, 5 Mar 2019\r\n 10:00:00 -0800 (PST)\r\nX: y\r\n\r\n"),
		[]byte("X-Date: no\r\nDated: no\r\n\r\nDate: body\r\n"),
		[]byte("From someone Mon Jan  1 00:00:00 2024\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"),
		[]byte("Date: first\r\nDate: second\r\n\r\n"),
		[]byte(""),
		[]byte("Date: \x1b[31mred\r\n\r\n"),
	}
	for _, raw := range awkward {
		msgs = append(msgs, raw)
	}
	for _, raw := range msgs {
		if got, want := dateField(raw), ParseHeader(raw).Date; got != want {
			t.Errorf("dateField(%q) = %q; ParseHeader gives %q", raw, got, want)
		}
	}
}

// Prepare's lookup of a message stored in a transaction that then rolls
// back must not make Put skip it.
func TestPrepareLookupVoidAfterRollback(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	raw := []byte("Subject: twice\r\n\r\ntwice\r\n")
	if _, added, err := r.PutMessage(ctx, raw); err != nil || !added {
		t.Fatalf("PutMessage = %v, %v", added, err)
	}
	p, err := r.Prepare(ctx, raw) // finds it pending
	if err != nil || !p.Exists {
		t.Fatalf("Prepare = %+v, %v; want it found", p, err)
	}
	r.Rollback()
	q, err := r.Prepare(ctx, raw)
	if err != nil || q.Exists {
		t.Fatalf("Prepare after rollback: exists %v, %v", q.Exists, err)
	}
	// Another goroutine stores it first, then commits: q's lookup is stale.
	if _, added, err := r.PutMessage(ctx, raw); err != nil || !added {
		t.Fatalf("PutMessage = %v, %v", added, err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if added, err := r.Put(ctx, q); err != nil || added {
		t.Fatalf("Put of a message stored since its Prepare = %v, %v; want not added", added, err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM blobs`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d blobs rows, want 1", n)
	}
	if got, err := r.ReadMessage(ctx, HashBytes(raw)); err != nil || string(got) != string(raw) {
		t.Fatalf("ReadMessage = %q, %v", got, err)
	}
}
