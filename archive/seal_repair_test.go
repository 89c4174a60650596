package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func resealMessages() [][]byte {
	var out [][]byte
	for i := 0; i < 60; i++ {
		out = append(out, []byte(fmt.Sprintf("Subject: plain secret %d\r\n\r\n%s\r\n", i, bytes.Repeat([]byte(fmt.Sprintf("line %d ", i)), 200))))
	}
	return out
}

func packsHold(t *testing.T, dir, needle string) []string {
	t.Helper()
	var hits []string
	packs, _ := filepath.Glob(filepath.Join(dir, "data", "*.pack"))
	for _, p := range packs {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(needle)) {
			hits = append(hits, filepath.Base(p))
		}
	}
	return hits
}

func TestResealEncryptsOldMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, sealer := testKeys(t)
	msgs := resealMessages()
	big := append([]byte("Subject: plain secret big\r\n\r\n"), bytes.Repeat([]byte("big plain secret body\r\n"), 450_000)...) // ~10 MB
	r, err := Open(ctx, dir, &Options{Create: true, PackSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var hashes []Hash
	for _, m := range msgs[:40] {
		h, _, err := r.PutMessage(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	hb, _, _, err := r.PutMessageReader(ctx, bytes.NewReader(big), int64(len(big)))
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(ctx)
	r.Close()

	// Encryption on: new messages are encrypted, old ones are not yet.
	r, err = Open(ctx, dir, &Options{Create: true, PackSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	r.SetSealer(sealer)
	for _, m := range msgs[40:] {
		h, _, err := r.PutMessage(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	r.Commit(ctx)
	if len(packsHold(t, dir, "plain secret 3")) == 0 {
		t.Fatal("test setup: no plain message before Reseal")
	}
	if hits := packsHold(t, dir, "plain secret 50"); len(hits) != 0 {
		t.Fatalf("a message stored with encryption on is plain in %v", hits)
	}

	// Interrupted after 10 messages: consistent, and the next run finishes.
	cctx, cancel := context.WithCancel(ctx)
	_, err = r.Reseal(cctx, func(done, total int64) {
		if done == 10 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Reseal(cancelled) = %v", err)
	}
	crash(r)
	r, err = Open(ctx, dir, &Options{Create: true, PackSize: 8 << 10})
	if err != nil {
		t.Fatalf("Open() after an interrupted Reseal = %v", err)
	}
	r.SetSealer(sealer)
	if res, err := r.Verify(ctx, "", nil); err != nil || !res.OK() {
		t.Fatalf("Verify() after an interrupted Reseal = %+v, %v", res, err)
	}
	res, err := r.Reseal(ctx, nil)
	if err != nil || res.Messages == 0 || len(res.Removed) == 0 {
		t.Fatalf("Reseal() = %+v, %v", res, err)
	}
	t.Logf("Reseal: %d messages, %d bytes, removed %v", res.Messages, res.Bytes, res.Removed)
	for i, h := range hashes {
		if got, err := r.ReadMessage(ctx, h); err != nil || !bytes.Equal(got, msgs[i]) {
			t.Fatalf("ReadMessage(%d) after Reseal = %v", i, err)
		}
	}
	if got, err := r.ReadMessage(ctx, hb); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("ReadMessage(big) after Reseal = %d bytes, %v", len(got), err)
	}
	if vr, err := r.Verify(ctx, "", nil); err != nil || !vr.OK() || vr.Checked != int64(len(msgs)+1) {
		t.Fatalf("Verify() after Reseal = %+v, %v", vr, err)
	}
	if again, err := r.Reseal(ctx, nil); err != nil || again.Messages != 0 {
		t.Fatalf("second Reseal() = %+v, %v; want nothing to do", again, err)
	}
	// Stopped between the commit that retired a data file and its
	// deletion: the file is explained, and the next Reseal deletes it.
	gone := res.Removed[0]
	if err := os.WriteFile(filepath.Join(dir, "data", gone), []byte("plain secret leftover"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.wdb.Exec(`INSERT INTO meta(key, value) VALUES(?, ?)`, "retired:"+gone, gone); err != nil {
		t.Fatal(err)
	}
	crash(r)
	r, err = Open(ctx, dir, &Options{Create: true, PackSize: 8 << 10})
	if err != nil {
		t.Fatalf("Open() with a retired data file left = %v", err)
	}
	r.SetSealer(sealer)
	if again, err := r.Reseal(ctx, nil); err != nil || len(again.Removed) != 1 || again.Removed[0] != gone {
		t.Fatalf("Reseal() with a retired data file left = %+v, %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", gone)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("retired %s still there: %v", gone, err)
	}
	r.Close()
	for _, needle := range []string{"plain secret", "big plain secret body"} {
		if hits := packsHold(t, dir, needle); len(hits) != 0 {
			t.Fatalf("after Reseal, %v still hold %q", hits, needle)
		}
	}
}

// crash drops a writer as kill -9 would: no commit, no checkpoint.
func crash(r *Repo) {
	r.mu.Lock()
	if r.tx != nil {
		r.tx.Rollback()
		r.tx = nil
	}
	if r.pack != nil {
		r.pack.f.Close()
		r.pack = nil
	}
	r.closed = true
	r.mu.Unlock()
	r.lock.release()
	r.wdb.Close()
	r.rdb.Close()
}
