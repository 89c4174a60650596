package backup

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// bigMessage builds an n-byte message of 76-character lines with the
// shapes that trip POP3 clients sprinkled through it.
func bigMessageOf(n int) []byte {
	var b bytes.Buffer
	b.Grow(n + 8192)
	b.WriteString("Subject: a large attachment\r\nFrom: big@example.com\r\n\r\n")
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:74] + "\r\n"
	for i := 0; b.Len() < n-8192; i++ {
		switch i % 50000 {
		case 17:
			b.WriteString(".\r\n")
		case 18:
			b.WriteString(strings.Repeat("L", 4094) + "\r\n")
		case 19:
			b.WriteString("..dots\r\n")
		default:
			b.WriteString(line)
		}
	}
	for b.Len() < n-2 {
		b.WriteByte('x')
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// TestPOP3Large: a 50 MB message is archived byte-exact and streamed
// (the heap does not grow by anything near its size).
func TestPOP3Large(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB message")
	}
	forEachPOP3(t, func(t *testing.T, tg *pop3Target) {
		big := bigMessageOf(50 << 20)
		tg.add(t, big, []byte("Subject: small\r\n\r\nafter the big one\r\n"))
		big = nil
		repo := openRepo(t, t.TempDir())
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		var peak uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					peak = max(peak, m.HeapInuse)
				}
			}
		}()
		res, _ := pop3Run(t, repo, tg, nil)
		close(stop)
		wg.Wait()
		if !res.OK() || res.New != 2 {
			t.Fatalf("new %d %v", res.New, res.Err())
		}
		growth := int64(peak) - int64(base)
		t.Logf("heap in use grew by %.1f MB during the backup", float64(growth)/(1<<20))
		if growth > 40<<20 {
			t.Errorf("heap grew by %d MB backing up a 50 MB message: not streamed", growth>>20)
		}
		checkPOP3Archive(t, repo, tg, "isp")
		res, _ = pop3Run(t, repo, tg, func(a *POP3Account) { a.Delete = true })
		if !res.OK() || res.Deleted != 2 || res.New+res.Seen != 0 {
			t.Fatalf("delete run: deleted %d stored %d %v", res.Deleted, res.New+res.Seen, res.Err())
		}
	})
}
