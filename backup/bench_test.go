package backup

import (
	"context"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// BenchmarkIMAPBackup measures a full backup (fetch, hash, compress, index,
// fsync) of ~1,000 sample messages from the in-process server. For the
// side-by-side with mbsync on a real Dovecot see bench/backup.sh.
func BenchmarkIMAPBackup(b *testing.B) {
	srv := newServer(b, nil)
	var total int64
	for _, m := range sample.Generate(1000, 21) {
		srv.AddMessage(testUser, m.Folder, m.Raw, m.Flags, m.Date)
		total += int64(len(m.Raw))
	}
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		repo, err := archive.Open(context.Background(), b.TempDir(), &archive.Options{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(srv.Addr(), 10*time.Second)}, nil)
		if !res.OK() {
			b.Fatal(res.Err())
		}
		b.StopTimer()
		repo.Close()
		b.StartTimer()
	}
}

// BenchmarkIMAPNoopRerun measures a re-run with nothing new.
func BenchmarkIMAPNoopRerun(b *testing.B) {
	srv := newServer(b, nil)
	for _, m := range sample.Generate(3000, 22) {
		srv.AddMessage(testUser, m.Folder, m.Raw, m.Flags, m.Date)
	}
	repo := openRepo(b, b.TempDir())
	if res := backupOnce(b, repo, srv.Addr()); !res.OK() {
		b.Fatal(res.Err())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := backupOnce(b, repo, srv.Addr())
		if !res.OK() || res.New+res.Seen != 0 {
			b.Fatalf("re-run fetched %d", res.New+res.Seen)
		}
	}
}
