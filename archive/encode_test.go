package archive

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Format version 2 keeps dates as integers with the zone beside them and
// flag lists in a dictionary: what goes in must come out, zone included.
func TestPlaceDatesAndFlagsRoundTrip(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	acct, _ := r.Account(ctx, "a", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	cases := []struct {
		date  string // DateLayout, "" for none
		flags []string
	}{
		{"2019-03-04T05:06:07-05:00", []string{`\Seen`}},
		{"2019-03-04T05:06:07+05:30", []string{`\Seen`, `\Flagged`}},
		{"2019-03-04T05:06:07+00:00", nil},
		{"1969-12-31T23:59:59+14:00", []string{`$Label1`, `\Seen`}},
		{"", []string{`\Flagged`, `\Seen`}},
	}
	for i, c := range cases {
		raw := fmt.Sprintf("Subject: %d\r\nDate: Tue, 5 Mar 2019 10:00:00 -0800\r\n\r\nbody %d\r\n", i, i)
		h, _, err := r.PutMessage(ctx, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		var d time.Time
		if c.date != "" {
			d, _ = time.Parse(DateLayout, c.date)
		}
		if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 9, UID: uint32(i + 1), Hash: h, Size: int64(len(raw)), Flags: c.flags, InternalDate: d}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	i := 0
	for e, err := range r.Messages(ctx, Query{Account: "a"}) {
		if err != nil {
			t.Fatal(err)
		}
		c := cases[i]
		want := c.date
		if want == "" {
			// No INTERNALDATE: dated by the Date: header, in its own zone.
			want = "2019-03-05T10:00:00-08:00"
		}
		if got := e.InternalDate.Format(DateLayout); got != want {
			t.Errorf("uid %d: date %s, want %s", e.UID, got, want)
		}
		if got, want := JoinFlags(e.Flags), JoinFlags(c.flags); got != want {
			t.Errorf("uid %d: flags %q, want %q", e.UID, got, want)
		}
		if e.Header.Subject != fmt.Sprint(i) {
			t.Errorf("uid %d: subject %q, want %d", e.UID, e.Header.Subject, i)
		}
		i++
	}
	if i != len(cases) {
		t.Fatalf("%d places, want %d", i, len(cases))
	}
	// Three distinct non-empty flag lists: one dictionary row each.
	var n int
	if err := r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM flagsets`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("flagsets rows = %d, %v; want 3", n, err)
	}
}

// A flag list first seen in a transaction that rolls back is not left
// in the writer's memory under an id the index does not have.
func TestFlagSetAfterRollback(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	acct, _ := r.Account(ctx, "a", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	h, _, _ := r.PutMessage(ctx, []byte("Subject: x\r\n\r\nx\r\n"))
	if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: 1, Hash: h, Size: 15, Flags: []string{`$New`}}); err != nil {
		t.Fatal(err)
	}
	r.Rollback()
	h, _, _ = r.PutMessage(ctx, []byte("Subject: y\r\n\r\ny\r\n"))
	if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: 2, Hash: h, Size: 15, Flags: []string{`$New`}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for e, err := range r.Messages(ctx, Query{Account: "a"}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.UID != 2 || JoinFlags(e.Flags) != `$New` {
			t.Fatalf("place uid %d flags %q; want uid 2 with $New", e.UID, e.Flags)
		}
	}
}

// A place recorded for a message that is not stored names it by a blob
// row with pack 0 (missing); storing the message fills in that same row.
func TestMissingBlobKeepsItsRow(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	acct, _ := r.Account(ctx, "a", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	raw := []byte("Subject: later\r\n\r\nlater\r\n")
	h := HashBytes(raw)
	if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: 1, Hash: h, Size: int64(len(raw))}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.HasBlob(ctx, h); ok {
		t.Fatal("HasBlob of a message never stored = true")
	}
	n := 0
	for range r.Messages(ctx, Query{Account: "a"}) {
		n++
	}
	if n != 0 {
		t.Fatalf("a missing place is listed (%d)", n)
	}
	if _, added, err := r.PutMessage(ctx, raw); err != nil || !added {
		t.Fatalf("PutMessage = %v, %v", added, err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var rows, pack int64
	if err := r.rdb.QueryRowContext(ctx, `SELECT count(*), max(pack) FROM blobs`).Scan(&rows, &pack); err != nil || rows != 1 || pack == 0 {
		t.Fatalf("blobs: %d rows, pack %d, %v; want the one row, now stored", rows, pack, err)
	}
	got, err := r.ReadMessage(ctx, h)
	if err != nil || string(got) != string(raw) {
		t.Fatalf("ReadMessage = %q, %v", got, err)
	}
}

// BenchmarkIndexBytesPerMessage stores small messages the way a backup
// does (4 folders, one flag, an INTERNALDATE each, a Dovecot-like
// UIDVALIDITY) and reports index.db bytes per message (issue: at most
// 150). MAILKEEP_BENCH_N sets the count (default 50,000).
func BenchmarkIndexBytesPerMessage(b *testing.B) {
	n := 50000
	if v := os.Getenv("MAILKEEP_BENCH_N"); v != "" {
		fmt.Sscan(v, &n)
	}
	for it := 0; it < b.N; it++ {
		ctx := context.Background()
		dir := b.TempDir()
		r, err := Open(ctx, dir, &Options{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		acct, _ := r.Account(ctx, "alice", "imap")
		words := strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore")
		rng := rand.New(rand.NewSource(7))
		var folders []*Folder
		for _, name := range []string{"INBOX", "Sent", "Archive", "Lists"} {
			f, _ := r.Folder(ctx, acct, name)
			folders = append(folders, f)
		}
		t0 := time.Unix(1262304000, 0)
		for i := 0; i < n; i++ {
			var sb strings.Builder
			for j := 30 + rng.Intn(220); j > 0; j-- {
				sb.WriteString(words[rng.Intn(len(words))] + " ")
			}
			ts := t0.Add(time.Duration(i) * 1500 * time.Second)
			msg := fmt.Sprintf("From: user%d@example.org\r\nTo: me@example.com\r\nSubject: note %d\r\nDate: %s\r\nMessage-ID: <scale-%d@example.org>\r\n\r\n%s\r\n",
				i%997, i, ts.UTC().Format(time.RFC1123Z), i, sb.String())
			h, _, err := r.PutMessage(ctx, []byte(msg))
			if err != nil {
				b.Fatal(err)
			}
			m := &Message{Folder: folders[i%4].ID, UIDValidity: 1733300000, UID: uint32(i/4 + 1), Hash: h, Size: int64(len(msg)),
				Flags: []string{`\Seen`}, InternalDate: ts}
			if err := r.AddMessage(ctx, m); err != nil {
				b.Fatal(err)
			}
			if i%5000 == 4999 {
				if err := r.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := r.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		r.Close()
		st, err := os.Stat(filepath.Join(dir, "index.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/float64(n), "index-B/msg")
	}
}
