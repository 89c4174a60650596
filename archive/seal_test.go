package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func testKeys(t *testing.T) (*age.X25519Identity, Sealer) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id, AgeSealer([]age.Recipient{id.Recipient()}, []age.Identity{id}, "")
}

func TestSealedRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	id, full := testKeys(t)
	const secret = "Subject: the sealed subject line"
	small := []byte(secret + "\r\n\r\nhello\r\n")
	big := append([]byte(secret+" (big)\r\n\r\n"), bytes.Repeat([]byte("0123456789abcdef secret body line\r\n"), 300_000)...) // ~10 MB: streamed

	// Plain first: an archive that turns encryption on later.
	plain := []byte("Subject: stored before encryption\r\n\r\nold\r\n")
	r, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	hp, _, _ := r.PutMessage(ctx, plain)
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()

	r, err = Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	r.SetSealer(full)
	hs, added, err := r.PutMessage(ctx, small)
	if err != nil || !added {
		t.Fatalf("PutMessage(small) = %v, %v", added, err)
	}
	hb, _, added, err := r.PutMessageReader(ctx, bytes.NewReader(big), int64(len(big)))
	if err != nil || !added {
		t.Fatalf("PutMessageReader(big) = %v, %v", added, err)
	}
	// Dedup is by the plaintext's hash, whatever the storage.
	if _, added, _ := r.PutMessage(ctx, plain); added {
		t.Fatal("PutMessage(plain again) stored it again")
	}
	if _, added, _ := r.PutMessage(ctx, small); added {
		t.Fatal("PutMessage(small again) stored it again")
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[Hash][]byte{hp: plain, hs: small, hb: big} {
		got, err := r.ReadMessage(ctx, h)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadMessage(%s) = %d bytes, %v; want %d bytes", h, len(got), err, len(want))
		}
		rc, _, err := r.OpenMessage(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("OpenMessage(%s) = %d bytes, %v; want %d", h, len(got), err, len(want))
		}
	}
	if res, err := r.Verify(ctx, "", nil); err != nil || !res.OK() || res.Checked != 3 || res.Unopened != 0 {
		t.Fatalf("Verify() with the identity = %+v, %v; want 3 checked in full", res, err)
	}
	r.Close()

	packs, _ := filepath.Glob(filepath.Join(dir, "data", "*.pack"))
	for _, p := range packs {
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte("secret body line")) {
			t.Fatalf("%s holds plaintext of an encrypted message", p)
		}
	}

	// Without the identity: reading fails naming it; verify checks frames.
	r, err = Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetSealer(AgeSealer([]age.Recipient{id.Recipient()}, nil, "encryption.identity_file /keys/id.txt: no such file or directory"))
	_, err = r.ReadMessage(ctx, hs)
	if !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), "/keys/id.txt") {
		t.Fatalf("ReadMessage() without identity = %v, want ErrNoIdentity naming the file", err)
	}
	if _, _, err := r.OpenMessage(ctx, hb); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("OpenMessage(big) without identity = %v", err)
	}
	if got, err := r.ReadMessage(ctx, hp); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("ReadMessage(plain) without identity = %v", err)
	}
	if err := r.CanRead(ctx); !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), "is encrypted and there is no identity") {
		t.Fatalf("CanRead() = %v", err)
	}
	res, err := r.Verify(ctx, "", nil)
	if err != nil || !res.OK() || res.Checked != 3 || res.Unopened != 2 {
		t.Fatalf("Verify() without identity = %+v, %v; want OK with 2 checked as frames", res, err)
	}
	// A wrong identity is named as such, and is no damage.
	other, _ := age.GenerateX25519Identity()
	r.SetSealer(AgeSealer(nil, []age.Identity{other}, ""))
	if _, err := r.ReadMessage(ctx, hs); err == nil || !strings.Contains(err.Error(), "other keys") {
		t.Fatalf("ReadMessage() with another identity = %v", err)
	}
	if res, err := r.Verify(ctx, "", nil); err != nil || !res.OK() || res.Unopened != 2 {
		t.Fatalf("Verify() with another identity = %+v, %v; want OK with 2 not decrypted", res, err)
	}
}

func TestSealedFrameDamageFound(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, full := testKeys(t)
	r, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	r.SetSealer(full)
	h, _, _ := r.PutMessage(ctx, []byte("Subject: x\r\n\r\nbody to damage, long enough to matter\r\n"))
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := r.blob(ctx, h)
	r.Close()
	// Flip a byte of the ciphertext payload (the last bytes: past the header).
	path := filepath.Join(dir, "data", "00000001.pack")
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	one := []byte{0}
	f.ReadAt(one, b.Offset+b.Length-5)
	one[0] ^= 0xff
	f.WriteAt(one, b.Offset+b.Length-5)
	f.Close()
	r, _ = Open(ctx, dir, nil)
	defer r.Close()
	r.SetSealer(full)
	res, err := r.Verify(ctx, "", nil)
	if err != nil || len(res.Damaged) != 1 || res.Damaged[0].Hash != h {
		t.Fatalf("Verify() of a damaged encrypted message = %+v, %v; want it named", res, err)
	}
}

// TestAgeSealerWritesAgeFiles: every sealed message is an age file the
// reference implementation decrypts with the identity alone, whatever its
// length around the 64 KiB chunk size; messages share a header, not a nonce.
func TestAgeSealerWritesAgeFiles(t *testing.T) {
	id, s := testKeys(t)
	var headers [][]byte
	for _, n := range []int{0, 1, 100, 64<<10 - 1, 64 << 10, 64<<10 + 1, 200_000, 128 << 10} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		var buf bytes.Buffer
		w, err := s.Seal(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(msg[:n/2])
		w.Write(msg[n/2:])
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := age.Decrypt(bytes.NewReader(buf.Bytes()), id)
		if err != nil {
			t.Fatalf("age.Decrypt(%d bytes) = %v", n, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("age.Decrypt(%d bytes) read %d, %v", n, len(got), err)
		}
		hdrEnd := bytes.Index(buf.Bytes(), []byte("\n---")) + 1
		hdrEnd += bytes.IndexByte(buf.Bytes()[hdrEnd:], '\n') + 1
		headers = append(headers, buf.Bytes()[:hdrEnd+ageNonceSize])
		if err := checkAgeHeader(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatalf("checkAgeHeader() = %v", err)
		}
	}
	for i := 1; i < len(headers); i++ {
		h0, hi := headers[0], headers[i]
		if !bytes.Equal(h0[:len(h0)-ageNonceSize], hi[:len(hi)-ageNonceSize]) {
			t.Fatal("two messages of one sealer have different headers")
		}
		if bytes.Equal(h0[len(h0)-ageNonceSize:], hi[len(hi)-ageNonceSize:]) {
			t.Fatal("two messages share a payload nonce")
		}
	}
	if err := checkAgeHeader(strings.NewReader("age-encryption.org/v1\n-> X25519 short\n--- bad\n")); err == nil {
		t.Fatal("checkAgeHeader(malformed) = nil")
	}
}

func BenchmarkSealFrame(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	r := &Repo{seal: AgeSealer([]age.Recipient{id.Recipient()}, []age.Identity{id}, "")}
	frame := bytes.Repeat([]byte("compressed message "), 500) // ~10 KB
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		sealed, err := r.sealFrame(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.opened(Blob{}, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
