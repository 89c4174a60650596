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
