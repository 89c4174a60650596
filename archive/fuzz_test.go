package archive

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// FuzzReadDamagedPack stores messages, then lets the fuzzer overwrite part
// of the pack. Reading and verifying must never panic, and a message that
// reads back without error must be exactly the stored bytes.
func FuzzReadDamagedPack(f *testing.F) {
	f.Add(uint16(0), []byte{0xff})
	f.Add(uint16(40), []byte("garbage in the frame"))
	f.Add(uint16(3), []byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Add(uint16(100), bytes.Repeat([]byte{0}, 64))
	msgs := [][]byte{
		[]byte("Subject: one\r\n\r\nfirst message body\r\n"),
		{},
		bytes.Repeat([]byte("Subject: two\r\n\r\nsecond\r\n"), 30),
	}
	f.Fuzz(func(t *testing.T, at uint16, junk []byte) {
		ctx := context.Background()
		dir := t.TempDir()
		r, err := Open(ctx, dir, &Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var hs []Hash
		for _, m := range msgs {
			h, _, err := r.PutMessage(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		if err := r.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		pf, err := os.OpenFile(r.PackPath(1), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := pf.Stat()
		off := int64(at) % st.Size()
		if len(junk) > 0 {
			pf.WriteAt(junk, off)
		}
		pf.Close()
		changed := false
		for i, h := range hs {
			got, err := r.ReadMessage(ctx, h)
			if err == nil && !bytes.Equal(got, msgs[i]) {
				// zstd's checksum or the size check must catch any change
				// that alters the content.
				if HashBytes(got) != h {
					changed = true
				}
			}
			if verr := r.VerifyMessage(ctx, h); verr == nil && err != nil {
				t.Fatalf("VerifyMessage() = nil but ReadMessage() = %v", err)
			}
		}
		res, err := r.Verify(ctx, "", nil)
		if err != nil {
			t.Fatalf("Verify() error %v", err)
		}
		if changed && res.OK() {
			t.Fatalf("a message reads back changed but Verify() found nothing")
		}
	})
}
