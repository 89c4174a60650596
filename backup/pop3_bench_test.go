package backup

import (
	"context"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// BenchmarkPOP3Backup backs up a maildrop of 1,000 ordinary messages
// (some with attachments) from pop3srv into a fresh archive per
// iteration; "rerun" measures a run that finds nothing new.
func BenchmarkPOP3Backup(b *testing.B) {
	tg := newPOP3Srv(b, nil)
	var total int64
	for i, raw := range ordinary(1000, 77) {
		if i%10 == 0 {
			raw = append(raw, bytesN(200<<10, byte('a'+i%26))...)
		}
		tg.add(b, raw)
		total += int64(len(raw))
	}
	ctx := context.Background()
	run := func(b *testing.B, repo *archive.Repo) *Result {
		res := POP3(ctx, repo, &POP3Account{Name: "isp", Dial: tg.dial(10 * time.Second)}, nil)
		if !res.OK() {
			b.Fatal(res.Err())
		}
		return res
	}
	b.Run("full", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			b.StopTimer()
			repo, err := archive.Open(ctx, b.TempDir(), &archive.Options{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if res := run(b, repo); res.New+res.Seen == 0 {
				b.Fatal("nothing stored")
			}
			b.StopTimer()
			repo.Close()
			b.StartTimer()
		}
	})
	b.Run("rerun", func(b *testing.B) {
		repo := openRepo(b, b.TempDir())
		run(b, repo)
		for b.Loop() {
			if res := run(b, repo); res.New+res.Seen != 0 {
				b.Fatal("a re-run stored messages")
			}
		}
	})
}
