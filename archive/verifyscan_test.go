package archive

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"testing"
)

// TestVerifyWindows: verify reading the packs a window at a time finds
// exactly the damaged messages (one in the middle of a window, a header
// naming another message, one past a window's size, one big enough to be
// streamed), in several packs and out of pack order (messages stored
// again), and its progress reports grow to the total.
func TestVerifyWindows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, err := Open(ctx, dir, &Options{Create: true, Purpose: "test", PackSize: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	acct, _ := r.Account(ctx, "work", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	var hashes []Hash
	var raws [][]byte
	add := func(raw []byte) {
		t.Helper()
		raws = append(raws, raw)
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
		if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uint32(len(hashes)), Hash: h, Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
	}
	noise := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	for i := 0; i < 4000; i++ {
		switch i {
		case 1000: // incompressible, more than a window
			add(append([]byte("Subject: wide\r\n\r\n"), noise(verifyWindow+5000)...))
		case 2500: // streamed
			add(append([]byte("Subject: big\r\n\r\n"), noise(bigMessage+10)...))
		default:
			add(append([]byte(fmt.Sprintf("Subject: %d\r\n\r\n", i)), noise(300+i%2000)...))
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Stored again after it was missing: its blob keeps its id and
	// comes in id order before neighbours at lower offsets.
	for _, i := range []int{3990, 3992} {
		if _, err := r.MarkMissing(ctx, []Hash{hashes[i]}); err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if _, added, err := r.PutMessage(ctx, raws[i]); err != nil || !added {
			t.Fatalf("PutMessage(again) = %v, %v", added, err)
		}
		if err := r.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	packs := map[int64]bool{}
	for _, h := range hashes {
		b, _ := r.blob(ctx, h)
		packs[b.Pack] = true
	}
	if len(packs) < 3 {
		t.Fatalf("messages in %d packs, want several", len(packs))
	}
	flip := func(h Hash, at func(b Blob) int64) {
		t.Helper()
		b, err := r.blob(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := os.OpenFile(r.PackPath(b.Pack), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Close()
		one := []byte{0}
		pf.ReadAt(one, at(b))
		one[0] ^= 0xff
		pf.WriteAt(one, at(b))
	}
	mid := func(b Blob) int64 { return b.Offset + b.Length/2 }
	damaged := map[Hash]string{
		hashes[700]:  "content",
		hashes[1000]: "content",
		hashes[2500]: "content",
		hashes[3999]: "content",
		hashes[1500]: "header",
	}
	for h, how := range damaged {
		if how == "header" {
			flip(h, func(b Blob) int64 { return b.Offset - 1 }) // the hash frame's last byte
		} else {
			flip(h, mid)
		}
	}
	var calls, last, lastTotal, lastBytes int64
	res, err := r.Verify(ctx, "", func(done, total, bytes int64) {
		calls++
		if done < last || bytes < lastBytes {
			t.Errorf("progress went back: %d after %d", done, last)
		}
		last, lastTotal, lastBytes = done, total, bytes
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[Hash]bool{}
	for _, d := range res.Damaged {
		got[d.Hash] = true
		if _, ok := damaged[d.Hash]; !ok {
			t.Errorf("Verify() names intact message %s: %v", d.Hash, d.Err)
		}
	}
	if len(got) != len(damaged) || len(res.Damaged) != len(damaged) {
		t.Errorf("Verify() found %d damaged (%v), want %d", len(res.Damaged), res.Damaged, len(damaged))
	}
	if res.Checked != int64(len(hashes)) || last != res.Checked || lastTotal != res.Checked || lastBytes != res.Bytes || calls < 2 {
		t.Errorf("Verify() checked %d of %d; last progress %d/%d, %d bytes of %d, %d calls", res.Checked, len(hashes), last, lastTotal, lastBytes, res.Bytes, calls)
	}
	var raw int64
	for _, h := range hashes {
		b, _ := r.blob(ctx, h)
		raw += b.Size
	}
	if res.Bytes != raw {
		t.Errorf("Verify().Bytes = %d, want %d", res.Bytes, raw)
	}
}
