package restore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/cyrus"
)

// blameCorpus is n messages; those at bad have a bare LF in the body,
// which Cyrus refuses ("Message contains bare newlines").
func blameCorpus(n int, bad ...int) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		raw := fmt.Sprintf("Subject: m%d\r\nMessage-ID: <m%d@blame>\r\n\r\nline one\r\nline two\r\n", i, i)
		if slices.Contains(bad, i) {
			raw = fmt.Sprintf("Subject: m%d\r\nMessage-ID: <m%d@blame>\r\n\r\nbare\nnewline\r\n", i, i)
		}
		out = append(out, []byte(raw))
	}
	return out
}

// TestMultiAppendBlameCyrusLike (issue 12, defect 1): a server that, like
// Cyrus, answers NO right after a bad literal, while the client is about
// to announce the next one. Only the refused messages are skipped, each
// with its own reason; every other message is stored exactly once. It
// used to blame the next message, then send the rest again, culprit
// included, so each retry blamed one more innocent message.
func TestMultiAppendBlameCyrusLike(t *testing.T) {
	bad := []int{3, 4, 17, 30}
	raws := blameCorpus(40, bad...)
	s := newScripted(t, "MULTIAPPEND UIDPLUS")
	s.check = func(body []byte) string {
		if bytes.Contains(bytes.ReplaceAll(body, []byte("\r\n"), nil), []byte("\n")) {
			return "NO Message contains bare newlines"
		}
		return ""
	}
	e, jobs := chunkEngine(t, s.ln.Addr().String(), 0)
	defer e.close()
	ctx := context.Background()
	tf := &tfolder{name: "Box", policy: newFlagPolicy(&imap.SelectData{PermanentFlags: []imap.Flag{`\Seen`, `\*`}})}
	for i, raw := range raws {
		h, _, err := e.repo.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, &job{tf: tf, p: &place{id: int64(i + 1), uid: uint32(i + 1), hash: h, size: int64(len(raw)),
			src: &srcFolder{f: &archive.Folder{Name: "Src"}}}})
	}
	if err := e.repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The dispatcher's part: retries go back to the front of the queue.
	w := &worker{e: e}
	queue := jobs
	refused := map[uint32]string{}
	stored := map[uint32]int{}
	for rounds := 0; len(queue) > 0; rounds++ {
		if rounds > 200 {
			t.Fatalf("no end after %d APPENDs; %d messages left", rounds, len(queue))
		}
		n := min(len(queue), batchSize)
		batch := queue[:n]
		queue = queue[n:]
		results := make(chan *result, len(batch))
		w.appendBatch(batch, results)
		close(results)
		var again []*job
		for r := range results {
			switch r.kind {
			case errNone:
				stored[r.j.p.uid]++
			case errRetry:
				again = append(again, r.j)
			case errRefused:
				refused[r.j.p.uid] = r.err.Error()
			default:
				t.Fatalf("uid %d: outcome %d (%v)", r.j.p.uid, r.kind, r.err)
			}
		}
		queue = append(again, queue...)
	}
	for i := range raws {
		uid := uint32(i + 1)
		isBad := slices.Contains(bad, i)
		switch {
		case isBad && !strings.Contains(refused[uid], "bare newlines"):
			t.Errorf("uid %d (bare LF): not refused with its own reason (%q, stored %d)", uid, refused[uid], stored[uid])
		case !isBad && (refused[uid] != "" || stored[uid] != 1):
			t.Errorf("uid %d (fine): refused %q, stored %d times; want stored once", uid, refused[uid], stored[uid])
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for b, n := range s.stored {
		if n != 1 {
			t.Errorf("the server stored %q %d times", b, n)
		}
	}
	if len(s.stored) != len(raws)-len(bad) {
		t.Errorf("the server stored %d messages, want %d", len(s.stored), len(raws)-len(bad))
	}
}

// TestMultiAppendBlameRealCyrus runs the same against a real Cyrus: a
// migration of 150 messages, 5 of them with bare LF, skips exactly those 5.
func TestMultiAppendBlameRealCyrus(t *testing.T) {
	dst := cyrus.Shared(t, cyrus.LayoutDebian)
	tu, tp := dst.NewUser(t)
	srv, src := inproc(t, "old", nil)
	bad := []int{2, 3, 40, 99, 149}
	raws := blameCorpus(150, bad...)
	for i, raw := range raws {
		srv.AddMessage("u", "INBOX", raw, nil, time.Date(2021, 1, 1, 0, 0, i, 0, time.UTC))
	}
	ta := account{name: "new", addr: dst.IMAPAddr, user: tu, pass: tp}
	repo := newRepo(t)
	r := Migrate(context.Background(), repo, ta.target(), &Options{Source: "old"}, src.backupFn(repo, nil), nil)
	_, _, copied, _, _, skipped, _ := r.Totals()
	var reasons []string
	for _, f := range r.Folders {
		for _, s := range f.Skipped {
			reasons = append(reasons, s.String())
			if !strings.Contains(s.Reason, "bare newlines") {
				t.Errorf("skipped %s: want the reason Cyrus gives for it", s.String())
			}
		}
	}
	if copied != int64(len(raws)-len(bad)) || skipped != int64(len(bad)) {
		t.Fatalf("copied %d, skipped %d; want %d and %d:\n%s", copied, skipped, len(raws)-len(bad), len(bad), strings.Join(reasons, "\n"))
	}
	if n := targetCount(t, ta); n != len(raws)-len(bad) {
		t.Errorf("Cyrus holds %d messages, want %d", n, len(raws)-len(bad))
	}
}
