package archive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStoreSmall stores ~1 KB messages the way backup does: hashed
// and compressed on every core (Prepare), appended and indexed in order
// by one goroutine (Put, AddMessage), a commit every 500. It reports the
// process's CPU time a message (user+sys), which a loaded machine
// disturbs less than the wall time.
func BenchmarkStoreSmall(b *testing.B) {
	ctx := context.Background()
	repo, err := Open(ctx, b.TempDir(), &Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	acct, _ := repo.Account(ctx, "bench", "imap")
	f, _ := repo.Folder(ctx, acct, "INBOX")
	words := []string{"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod", "tempor"}
	rng := rand.New(rand.NewPCG(1, 2))
	msg := func(i int) []byte {
		body := make([]byte, 0, 1200)
		for range 30 + rng.IntN(220) {
			body = append(body, words[rng.IntN(len(words))]...)
			body = append(body, ' ')
		}
		return fmt.Appendf(nil, "From: user%d@example.org\r\nTo: me@example.com\r\nSubject: note %d\r\nDate: Mon, 02 Mar 2020 10:00:00 +0000\r\nMessage-ID: <bench-%d@example.org>\r\n\r\n%s\r\n", i%997, i, i, body)
	}
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = msg(i)
	}
	type job struct {
		raw  []byte
		p    *Prepared
		done chan struct{}
	}
	work := make(chan *job, 256)
	ordered := make(chan *job, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				var perr error
				if j.p, perr = repo.Prepare(ctx, j.raw); perr != nil {
					panic(perr)
				}
				close(j.done)
			}
		}()
	}
	before := cpuTime()
	b.ResetTimer()
	go func() {
		for _, raw := range msgs {
			j := &job{raw: raw, done: make(chan struct{})}
			ordered <- j
			work <- j
		}
		close(work)
		close(ordered)
	}()
	i := 0
	for j := range ordered {
		<-j.done
		if _, err := repo.Put(ctx, j.p); err != nil {
			b.Fatal(err)
		}
		if err := repo.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: j.p.Hash, Size: j.p.Size,
			Flags: []string{`\Seen`}, InternalDate: time.Unix(1583143200, 0)}); err != nil {
			b.Fatal(err)
		}
		if i++; i%500 == 0 {
			if err := repo.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := repo.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	wg.Wait()
	b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "cpu-us/msg")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
