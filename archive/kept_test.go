package archive

import (
	"context"
	"testing"
	"time"
)

func TestEffectiveDate(t *testing.T) {
	first := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	internal := time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	for _, tc := range []struct {
		name     string
		internal time.Time
		header   string
		want     time.Time
	}{
		{"InternalDateWins", internal, "Mon, 2 Jan 2006 15:04:05 -0700", internal},
		{"DateHeader", time.Time{}, "Mon, 2 Jan 2006 15:04:05 -0700", time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", -7*3600))},
		{"DateHeaderComment", time.Time{}, " Tue, 3 Jan 2006 15:04:05 +0000 (UTC)", time.Date(2006, 1, 3, 15, 4, 5, 0, time.UTC)},
		{"NoHeader", time.Time{}, "", first},
		{"Garbage", time.Time{}, "yesterday", first},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EffectiveDate(tc.internal, tc.header, first); !got.Equal(tc.want) {
				t.Errorf("EffectiveDate(%v, %q) = %v, want %v", tc.internal, tc.header, got, tc.want)
			}
		})
	}
}

// TestMessagesKeepsOffServer: Messages and Stats count mail mailkeep took
// off the server as archived, and mail deleted on the server only with
// IncludeGone.
func TestMessagesKeepsOffServer(t *testing.T) {
	ctx := context.Background()
	repo, err := Open(ctx, t.TempDir(), &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	acct, _ := repo.Account(ctx, "a", "imap")
	f, _ := repo.Folder(ctx, acct, "INBOX")
	for uid := uint32(1); uid <= 4; uid++ {
		raw := []byte("Subject: " + string(rune('0'+uid)) + "\r\n\r\nx\r\n")
		h, _, err := repo.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uid, Hash: h, Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	repo.MarkGone(ctx, f.ID, 1, []uint32{1}, nil, GoneCleanup, now)
	repo.MarkGone(ctx, f.ID, 1, []uint32{2}, nil, GoneExpunged, now)
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(q Query) int {
		n := 0
		for _, err := range repo.Messages(ctx, q) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := count(Query{Account: "a"}); n != 3 {
		t.Errorf("Messages() = %d places, want 3 (2 on the server, 1 cleaned up)", n)
	}
	if n := count(Query{Account: "a", IncludeGone: true}); n != 4 {
		t.Errorf("Messages(IncludeGone) = %d places, want 4", n)
	}
	if n := count(Query{Account: "a", AsOf: now.Add(time.Hour)}); n != 3 {
		t.Errorf("Messages(AsOf later) = %d places, want 3", n)
	}
	st, err := repo.Stats(ctx, "a")
	if err != nil || len(st) != 1 || st[0].Messages != 3 || st[0].OffServer != 1 || st[0].Gone != 1 {
		t.Errorf("Stats() = %+v, %v; want 3 messages, 1 off server, 1 gone", st, err)
	}
}
