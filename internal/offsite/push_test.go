package offsite

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/archive"
)

func TestPushPullRoundTrip(t *testing.T) {
	s := startS3(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	addMessages(t, src, 0, 300)

	first, err := Push(ctx, src, s.store, &PushOptions{PieceSize: 64 << 10})
	if err != nil {
		t.Fatalf("first Push() = %v", err)
	}
	if first.Seq != 1 || first.PackBytes == 0 {
		t.Fatalf("first Push() = %+v, want seq 1 with pack bytes", first)
	}
	addMessages(t, src, 300, 305)
	second, err := Push(ctx, src, s.store, &PushOptions{PieceSize: 64 << 10})
	if err != nil {
		t.Fatalf("second Push() = %v", err)
	}
	t.Logf("first push %d bytes (%d pack, %d index), second %d bytes (%d pack, %d index)",
		first.Bytes, first.PackBytes, first.IndexBytes, second.Bytes, second.PackBytes, second.IndexBytes)
	if second.Seq != 2 || second.Bytes*5 >= first.Bytes {
		t.Fatalf("second push after 5 messages sent %d bytes, first %d: want under 20%%", second.Bytes, first.Bytes)
	}

	vr, err := VerifyRemote(ctx, s.store, false)
	if err != nil || !vr.OK() || vr.Seq != 2 {
		t.Fatalf("VerifyRemote() = %+v, %v", vr, err)
	}
	vr, err = VerifyRemote(ctx, s.store, true)
	if err != nil || !vr.OK() {
		t.Fatalf("VerifyRemote(deep) = %+v, %v", vr, err)
	}

	full := filepath.Join(t.TempDir(), "full")
	if _, err := Pull(ctx, s.store, full, nil); err != nil {
		t.Fatalf("Pull() = %v", err)
	}
	checkMessages(t, full, 305)

	// A fresh worker: the index only, a backup of new mail, a push.
	worker := filepath.Join(t.TempDir(), "worker")
	if _, err := Pull(ctx, s.store, worker, &PullOptions{IndexOnly: true}); err != nil {
		t.Fatalf("Pull(index only) = %v", err)
	}
	addMessages(t, worker, 0, 320) // 305 known by the index (deduplicated), 15 new
	third, err := Push(ctx, worker, s.store, &PushOptions{PieceSize: 64 << 10})
	if err != nil {
		t.Fatalf("Push(from index-only worker) = %v", err)
	}
	if third.PackBytes == 0 || third.PackBytes > second.PackBytes*4 {
		t.Fatalf("index-only worker pushed %d pack bytes for 15 new messages", third.PackBytes)
	}
	// Old index snapshots and manifests are removed, two generations kept.
	for _, d := range []string{indexDir, manifestDir} {
		objs, err := s.store.List(ctx, d)
		if err != nil || len(objs) != 2 {
			t.Fatalf("List(%s) after 3 pushes = %v, %v; want the last two", d, objs, err)
		}
	}
	if third.Deleted != 2 {
		t.Fatalf("third push deleted %d objects, want manifest 1 and its index", third.Deleted)
	}
	again := filepath.Join(t.TempDir(), "again")
	if _, err := Pull(ctx, s.store, again, nil); err != nil {
		t.Fatalf("Pull() after the worker's push = %v", err)
	}
	checkMessages(t, again, 320)

	// The source archive is now behind: it must not overwrite the worker's copy.
	addMessages(t, src, 305, 306)
	if _, err := Push(ctx, src, s.store, nil); err == nil || !strings.Contains(err.Error(), "newer than this archive") {
		t.Fatalf("Push() from an archive behind the remote = %v, want a refusal", err)
	}
	// Pull refuses a non-empty directory.
	if _, err := Pull(ctx, s.store, src, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Pull() into an archive = %v, want 'not empty'", err)
	}
}

// TestPushBesideABackup: a push while a writer appends and commits sends
// a consistent copy: every message its index names is there, intact.
func TestPushBesideABackup(t *testing.T) {
	s := startS3(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	addMessages(t, src, 0, 50)
	w, err := archive.Open(ctx, src, &archive.Options{Create: true, PackSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	acct, _ := w.Account(ctx, "work", "imap")
	f, _ := w.Folder(ctx, acct, "INBOX")
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for i := 50; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			raw := testMessage(i)
			h, _, err := w.PutMessage(ctx, raw)
			if err == nil {
				err = w.AddMessage(ctx, &archive.Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: h, Size: int64(len(raw))})
			}
			if err == nil && i%5 == 0 {
				err = w.Commit(ctx)
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	for range 3 {
		if _, err := Push(ctx, src, s.store, &PushOptions{PieceSize: 16 << 10}); err != nil {
			t.Fatalf("Push() beside a writer = %v", err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, s.store, out, nil); err != nil {
		t.Fatal(err)
	}
	r, err := archive.Open(ctx, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for e, err := range r.Messages(ctx, archive.Query{Account: "work"}) {
		if err != nil {
			t.Fatal(err)
		}
		raw, err := r.ReadMessage(ctx, e.Hash)
		if err != nil || !bytes.Equal(raw, testMessage(int(e.UID)-1)) {
			t.Fatalf("pulled message uid %d: %v", e.UID, err)
		}
		n++
	}
	if res, err := r.Verify(ctx, "", nil); err != nil || !res.OK() || n < 50 {
		t.Fatalf("pulled copy: %d messages, Verify() = %+v, %v", n, res, err)
	}
	t.Logf("pushed beside a writer: the copy holds %d messages", n)
}
