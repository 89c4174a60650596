package archive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSearchHitsStream: the hits SearchHits yields one by one are every
// matching place, newest first (a message in two folders twice, by place),
// the same whatever the limit (a limited search is the first hits), the
// same Search collects; a caller that stops early leaves no query open.
func TestSearchHitsStream(t *testing.T) {
	ctx := context.Background()
	r, err := Open(ctx, t.TempDir(), &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	acct, _ := r.Account(ctx, "work", "imap")
	inbox, _ := r.Folder(ctx, acct, "INBOX")
	lists, _ := r.Folder(ctx, acct, "Lists")
	const n = 2500
	base := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	order := rand.New(rand.NewPCG(7, 7)).Perm(n) // stored in no particular date order
	type want struct {
		date time.Time
		id   int64
	}
	var all, rare []want
	uid := map[int64]uint32{}
	for _, i := range order {
		date := base.Add(time.Duration(i) * time.Hour)
		word := "plain"
		if i%10 == 0 {
			word = "seldom"
		}
		raw := fmt.Sprintf("From: a@example.org\r\nSubject: common %d %s\r\nDate: %s\r\n\r\nbody\r\n", i, word, date.Format(time.RFC1123Z))
		h, _, err := r.PutMessage(ctx, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		folders := []*Folder{inbox}
		if i%7 == 0 {
			folders = append(folders, lists)
		}
		for _, f := range folders {
			uid[f.ID]++
			if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uid[f.ID], Hash: h, Size: int64(len(raw))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for e, err := range r.Messages(ctx, Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		w := want{e.InternalDate, e.ID}
		all = append(all, w)
		if i := len(e.Header.Subject); i > 6 && e.Header.Subject[i-6:] == "seldom" {
			rare = append(rare, w)
		}
	}
	newestFirst := func(ws []want) []int64 {
		slices.SortFunc(ws, func(a, b want) int {
			if c := b.date.Compare(a.date); c != 0 {
				return c
			}
			return int(a.id - b.id)
		})
		var ids []int64
		for _, w := range ws {
			ids = append(ids, w.id)
		}
		return ids
	}
	stream := func(word string, limit int) []int64 {
		t.Helper()
		terms, _ := ParseSearch(word)
		var ids []int64
		for h, err := range r.SearchHits(ctx, SearchQuery{Terms: terms, Limit: limit}) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, h.ID)
		}
		return ids
	}
	for _, c := range []struct {
		word string
		want []int64
	}{{"common", newestFirst(all)}, {"seldom", newestFirst(rare)}} {
		got := stream(c.word, 0)
		if !slices.Equal(got, c.want) {
			t.Errorf("SearchHits(%s) = %d hits, want %d newest first (first differs at %d)", c.word, len(got), len(c.want), firstDiff(got, c.want))
		}
		if got := stream(c.word, 100); !slices.Equal(got, c.want[:100]) {
			t.Errorf("SearchHits(%s, limit 100) is not the first 100 of all", c.word)
		}
		terms, _ := ParseSearch(c.word)
		hits, err := r.Search(ctx, SearchQuery{Terms: terms})
		if err != nil || len(hits) != len(c.want) {
			t.Fatalf("Search(%s) = %d hits, %v; want %d", c.word, len(hits), err, len(c.want))
		}
		for i, h := range hits {
			if h.ID != c.want[i] {
				t.Fatalf("Search(%s)[%d] = %d, want %d", c.word, i, h.ID, c.want[i])
			}
		}
	}
	// Stopping early, more times than the pool has connections.
	terms, _ := ParseSearch("common")
	for range 10 {
		for range r.SearchHits(ctx, SearchQuery{Terms: terms}) {
			break
		}
	}
	if got := stream("seldom", 0); len(got) != len(rare) {
		t.Errorf("after early stops: %d hits, want %d", len(got), len(rare))
	}
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
