package archive

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// FuzzRepairDamagedPack damages a closed archive's pack (overwrite, or a
// cut at the given length) and repairs it. Repair must never fail on a
// damaged pack; afterwards every message reads back exactly or is listed
// missing, verify finds no damaged message, and a writer opens.
func FuzzRepairDamagedPack(f *testing.F) {
	f.Add(uint16(0), []byte{0xff}, false)
	f.Add(uint16(45), []byte("garbage in the frame"), false)
	f.Add(uint16(60), []byte{}, true)
	f.Add(uint16(200), []byte{0x50, 0x2a, 0x4d, 0x18, 0x20, 0, 0, 0}, false)
	msgs := [][]byte{
		[]byte("Subject: one\r\n\r\nfirst message body\r\n"),
		{},
		bytes.Repeat([]byte("Subject: two\r\n\r\nsecond\r\n"), 30),
		[]byte("Subject: three\r\n\r\nthird\r\n"),
	}
	f.Fuzz(func(t *testing.T, at uint16, junk []byte, cut bool) {
		ctx := context.Background()
		dir := t.TempDir()
		r, err := Open(ctx, dir, &Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		acct, _ := r.Account(ctx, "a", "imap")
		fo, _ := r.Folder(ctx, acct, "INBOX")
		var hs []Hash
		for i, m := range msgs {
			h, _, err := r.PutMessage(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			r.AddMessage(ctx, &Message{Folder: fo.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: h, Size: int64(len(m))})
			hs = append(hs, h)
		}
		fo.UIDValidity, fo.LastUID = 1, uint32(len(msgs))
		r.UpdateFolder(ctx, fo)
		if err := r.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		r.Close()
		pack := filepath.Join(dir, "data", "00000001.pack")
		st, _ := os.Stat(pack)
		off := int64(at) % st.Size()
		if cut {
			os.Truncate(pack, off)
		} else if len(junk) > 0 {
			pf, _ := os.OpenFile(pack, os.O_RDWR, 0)
			pf.WriteAt(junk, off)
			pf.Close()
		}
		res, err := Repair(ctx, dir, nil)
		if err != nil {
			t.Fatalf("Repair() = %v", err)
		}
		ro, err := Open(ctx, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		v, err := ro.Verify(ctx, "", nil)
		if err != nil || len(v.Damaged) != 0 || len(v.Index) != 0 || len(v.Packs) != 0 {
			t.Fatalf("Verify() after Repair() = %+v, %v (repair: %+v)", v, err, res)
		}
		missing := map[string]bool{}
		for _, m := range v.Missing {
			missing[m] = true
		}
		for i, h := range hs {
			got, err := ro.ReadMessage(ctx, h)
			if err == nil && bytes.Equal(got, msgs[i]) {
				continue
			}
			if !missing[fmt.Sprintf("a/INBOX uidvalidity 1 uid %d", i+1)] {
				t.Fatalf("message %d neither readable (%v) nor listed missing (%q)", i+1, err, v.Missing)
			}
		}
		w, err := Open(ctx, dir, &Options{Create: true})
		if err != nil {
			t.Fatalf("writer Open() after Repair() = %v", err)
		}
		w.Close()
	})
}
