package archive

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// TestRepairEncrypted: an encrypted archive whose index.db is lost. With
// the identity, repair checks and indexes every message (plain and
// encrypted); without it, it indexes the plain ones, counts the encrypted
// ones it could not check, and deletes nothing.
func TestRepairEncrypted(t *testing.T) {
	ctx := context.Background()
	_, full := testKeys(t)
	plain := []byte("Subject: before encryption\r\n\r\nold\r\n")
	small := []byte("Subject: sealed\r\n\r\nsmall\r\n")
	big := append([]byte("Subject: sealed big\r\n\r\n"), bytes.Repeat([]byte("a sealed line of a large body\r\n"), 200_000)...)
	write := func(dir string) {
		r, err := Open(ctx, dir, &Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		r.PutMessage(ctx, plain)
		r.SetSealer(full)
		r.PutMessage(ctx, small)
		if _, _, _, err := r.PutMessageReader(ctx, bytes.NewReader(big), int64(len(big))); err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		r.Close()
		removeIndex(t, dir)
	}

	dir := t.TempDir()
	write(dir)
	res, err := Repair(ctx, dir, &Options{Sealer: full})
	if err != nil || res.Indexed != 3 || res.Recovered != 3 || res.Unchecked != 0 {
		t.Fatalf("Repair(identity) = %+v, %v; want 3 indexed", res, err)
	}
	r, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetSealer(full)
	for _, m := range [][]byte{plain, small, big} {
		if got, err := r.ReadMessage(ctx, HashBytes(m)); err != nil || !bytes.Equal(got, m) {
			t.Fatalf("after repair: %.20q: %v", m, err)
		}
	}
	if v, _ := r.Verify(ctx, "", nil); !v.OK() || v.Checked != 3 {
		t.Fatalf("Verify() after repair = %+v", v)
	}
	r.Close()

	dir2 := t.TempDir()
	write(dir2)
	before := snapshotFiles(t, dir2)
	res, err = Repair(ctx, dir2, nil)
	if err != nil || res.Indexed != 1 || res.Unchecked != 2 {
		t.Fatalf("Repair(no identity) = %+v, %v; want 1 indexed, 2 unchecked", res, err)
	}
	sameFiles(t, "repair without the identity", before, snapshotFiles(t, dir2))
	if ents, _ := os.ReadDir(dir2 + "/lost+found"); len(ents) != 0 {
		t.Fatalf("repair without the identity set %d files aside", len(ents))
	}
	// Given the identity later, repair finds the rest.
	res, err = Repair(ctx, dir2, &Options{Sealer: full})
	if err != nil || res.Indexed != 2 {
		t.Fatalf("second Repair(identity) = %+v, %v; want the 2 encrypted ones indexed", res, err)
	}
}

// TestRepairBigMessage: a large message is compressed as a stream (many
// zstd blocks); repair walks its frame to the end and indexes it.
func TestRepairBigMessage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	big := append([]byte("Subject: big\r\n\r\n"), bytes.Repeat([]byte("a line of a large body, compressible\r\n"), 400_000)...)
	for i := 0; i < len(big); i += 4096 {
		big[i] = byte(i * 7) // not all one repeat
	}
	small := []byte("Subject: after the big one\r\n\r\nx\r\n")
	if _, _, _, err := r.PutMessageReader(ctx, bytes.NewReader(big), int64(len(big))); err != nil {
		t.Fatal(err)
	}
	r.PutMessage(ctx, small)
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()
	removeIndex(t, dir)
	res, err := Repair(ctx, dir, nil)
	if err != nil || res.Indexed != 2 || len(res.Damage) != 0 {
		t.Fatalf("Repair() = %+v, %v; want both messages indexed", res, err)
	}
	got := readAll(t, dir)
	if !bytes.Equal(got[RecoveredAccount+"/"+RecoveredFolder+"/repair:"+HashBytes(big).String()], big) {
		t.Fatal("the big message did not come back")
	}
}
