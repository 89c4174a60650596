package archive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The search benchmark: an archive of MAILKEEP_BENCH_MESSAGES messages
// (default 200,000; kept in MAILKEEP_BENCH_ARCHIVE if set, so a second
// run skips the generation), text from a Zipf-distributed vocabulary.
//
//	MAILKEEP_BENCH_ARCHIVE=/var/tmp/mk-search go test ./archive -run '^$' -bench Search -benchtime 20x

var benchWords = func() []string {
	r := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	var out []string
	for len(out) < 20000 {
		n := 3 + r.IntN(8)
		var b strings.Builder
		for range n {
			b.WriteByte(letters[r.IntN(len(letters))])
		}
		out = append(out, b.String())
	}
	// A few words with known frequencies for the queries.
	out[0], out[1], out[2] = "the", "invoice", "meeting"
	return out
}()

func benchText(r *rand.Rand, z *rand.Zipf, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			if i%14 == 0 {
				b.WriteString("\r\n")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(benchWords[z.Uint64()])
	}
	return b.String()
}

func benchMessage(r *rand.Rand, z *rand.Zipf, i int, date time.Time) []byte {
	from := fmt.Sprintf("%s %s <%s%d@example%d.org>", benchWords[100+r.IntN(500)], benchWords[700+r.IntN(500)], benchWords[100+r.IntN(500)], i%977, i%53)
	return []byte(fmt.Sprintf("From: %s\r\nTo: user%d@example.org\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@bench>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		from, i%10, benchText(r, z, 4+r.IntN(6)), date.Format(time.RFC1123Z), i, benchText(r, z, 150+r.IntN(300))))
}

var benchOnce sync.Once
var benchRepo *Repo
var benchN int

func benchArchive(b *testing.B) *Repo {
	benchOnce.Do(func() {
		benchN = 200000
		if s := os.Getenv("MAILKEEP_BENCH_MESSAGES"); s != "" {
			benchN, _ = strconv.Atoi(s)
		}
		dir := os.Getenv("MAILKEEP_BENCH_ARCHIVE")
		if dir == "" {
			dir = filepath.Join(b.TempDir(), "a")
		}
		ctx := context.Background()
		repo, err := Open(ctx, dir, &Options{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		var have int64
		repo.rdb.QueryRow(`SELECT count(*) FROM messages`).Scan(&have)
		if int(have) < benchN {
			r := rand.New(rand.NewPCG(3, 4))
			z := rand.NewZipf(r, 1.1, 2, uint64(len(benchWords)-1))
			acct, _ := repo.Account(ctx, "bench", "imap")
			var folders []*Folder
			for _, name := range []string{"INBOX", "Archive", "Sent", "Lists/go", "Lists/debian"} {
				f, _ := repo.Folder(ctx, acct, name)
				folders = append(folders, f)
			}
			start := time.Now()
			t0 := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := int(have); i < benchN; i++ {
				raw := benchMessage(r, z, i, t0.Add(time.Duration(i)*20*time.Minute))
				h, _, err := repo.PutMessage(ctx, raw)
				if err != nil {
					b.Fatal(err)
				}
				var flags []string
				if i%2 == 0 {
					flags = append(flags, `\Seen`)
				}
				if i%50 == 0 {
					flags = append(flags, `\Flagged`)
				}
				f := folders[i%len(folders)]
				if err := repo.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: h, Size: int64(len(raw)), Flags: flags}); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 {
					if err := repo.Commit(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := repo.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			b.Logf("generated %d messages in %s", benchN-int(have), time.Since(start).Round(time.Second))
		}
		repo.Close()
		// Searched read-only, as 'mailkeep search' does.
		if benchRepo, err = Open(ctx, dir, nil); err != nil {
			b.Fatal(err)
		}
		st, _ := os.Stat(searchFile(dir))
		wal, _ := os.Stat(searchFile(dir) + "-wal")
		size := st.Size()
		if wal != nil {
			size += wal.Size()
		}
		b.Logf("search.db: %d bytes for %d messages = %d bytes/message", size, benchN, size/int64(benchN))
	})
	return benchRepo
}

func BenchmarkSearch(b *testing.B) {
	repo := benchArchive(b)
	for _, q := range []string{
		"invoice",                 // a common word: tens of thousands of hits, newest 100
		"the meeting",             // two common words
		benchWords[5000],          // a rare word
		"from:" + benchWords[150], // a sender's name
		"subject:invoice after:2020-01-01 before:2021-01-01",
		"is:flagged folder:INBOX",                       // no text: index rows only
		"larger:3K -invoice",                            // negation
		`"` + benchWords[3] + " " + benchWords[4] + `"`, // a phrase
	} {
		terms, err := ParseSearch(q)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(q, func(b *testing.B) {
			var hits int
			for b.Loop() {
				h, err := repo.Search(context.Background(), SearchQuery{Terms: terms, Limit: 100})
				if err != nil {
					b.Fatal(err)
				}
				hits = len(h)
			}
			b.ReportMetric(float64(hits), "hits")
		})
	}
}

// BenchmarkPutIndexed and BenchmarkPutUnindexed measure what the search
// index costs: storing a message, and storing it then adding its text
// (read back from the pack) to the index, as a writer's catch-up does.
func BenchmarkPutIndexed(b *testing.B)   { benchPut(b, true) }
func BenchmarkPutUnindexed(b *testing.B) { benchPut(b, false) }

func benchPut(b *testing.B, indexed bool) {
	ctx := context.Background()
	repo, err := Open(ctx, b.TempDir(), &Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	acct, _ := repo.Account(ctx, "bench", "imap")
	f, _ := repo.Folder(ctx, acct, "INBOX")
	r := rand.New(rand.NewPCG(5, 6))
	z := rand.NewZipf(r, 1.1, 2, uint64(len(benchWords)-1))
	msgs := make([][]byte, 2000)
	var bytes int64
	for i := range msgs {
		msgs[i] = benchMessage(r, z, i, time.Now())
		bytes += int64(len(msgs[i]))
	}
	b.SetBytes(bytes / int64(len(msgs)))
	i := 0
	for b.Loop() {
		raw := append([]byte(fmt.Sprintf("X-N: %d\r\n", i)), msgs[i%len(msgs)]...)
		p, err := repo.Prepare(ctx, raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := repo.Put(ctx, p); err != nil {
			b.Fatal(err)
		}
		repo.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: p.Hash, Size: int64(len(raw))})
		if i%500 == 499 {
			repo.Commit(ctx)
			if indexed {
				if err := repo.catchUpSearch(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		i++
	}
	repo.Commit(ctx)
}
