package archive

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Encryption at rest (FORMAT.md, "Encrypted messages"). A message stored
// with a Sealer is, after its hash frame, a second skippable frame whose
// content is the zstd frame encrypted (age, in mailkeep):
//
//	hash frame:   0x184D2A50, 32, SHA-256 of the plaintext   (as for every message)
//	sealed frame: 0x184D2A5A, N,  N bytes of ciphertext      <- blobs.offset, blobs.length = 8+N
//
// Readers tell the two kinds apart by the magic at blobs.offset, so an
// archive may hold both (encryption turned on later; repair --encrypt
// moves the old ones). Dedup is unchanged: the hash is of the plaintext.

// Sealer encrypts what is stored and decrypts it.
type Sealer interface {
	// Seal returns a writer that encrypts into dst; Close completes it.
	// It returns nil, nil when this Sealer only decrypts (no recipients):
	// new messages are then stored unencrypted.
	Seal(dst io.Writer) (io.WriteCloser, error)
	// Open decrypts src. Without an identity, the error wraps ErrNoIdentity.
	Open(src io.Reader) (io.Reader, error)
}

// ErrNoIdentity is returned when an encrypted message is read without the
// identity that decrypts it.
var ErrNoIdentity = errors.New("there is no identity to decrypt it")

const (
	sealMagic = 0x184D2A5A
	sealHdr   = 8
)

func isSealed(frame []byte) bool {
	return len(frame) >= sealHdr && binary.LittleEndian.Uint32(frame) == sealMagic
}

// SetSealer makes new messages encrypted (when s has recipients) and
// encrypted messages readable (when s has an identity). Call it right after
// Open, before any other use.
func (r *Repo) SetSealer(s Sealer) { r.seal = s }

// sealFrame encrypts one compressed message into a sealed frame; without
// a sealing Sealer it returns frame unchanged.
func (r *Repo) sealFrame(frame []byte) ([]byte, error) {
	if r.seal == nil {
		return frame, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(frame) + 256)
	buf.Write(make([]byte, sealHdr))
	w, err := r.seal.Seal(&buf)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if w == nil {
		return frame, nil
	}
	if _, err := w.Write(frame); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	out := buf.Bytes()
	binary.LittleEndian.PutUint32(out, sealMagic)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-sealHdr))
	return out, nil
}

// sealStream returns where a large message's zstd stream is written into
// tf (at its start): tf itself, or an encrypting writer whose Close writes
// the sealed frame's header.
func (r *Repo) sealStream(tf *os.File) (io.WriteCloser, error) {
	if r.seal == nil {
		return nopWriteCloser{tf}, nil
	}
	if _, err := tf.Write(make([]byte, sealHdr)); err != nil {
		return nil, err
	}
	w, err := r.seal.Seal(tf)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if w == nil {
		if _, err := tf.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return nopWriteCloser{tf}, nil
	}
	return &sealedStream{w: w, f: tf}, nil
}

type sealedStream struct {
	w io.WriteCloser
	f *os.File
}

func (s *sealedStream) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s *sealedStream) Close() error {
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	end, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if end-sealHdr > 0xFFFFFFFF {
		return fmt.Errorf("encrypt: message too large for one sealed frame (%d bytes)", end)
	}
	var hdr [sealHdr]byte
	binary.LittleEndian.PutUint32(hdr[:], sealMagic)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(end-sealHdr))
	_, err = s.f.WriteAt(hdr[:], 0)
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// opened returns the zstd frame of a stored message read whole: frame
// itself, or the decrypted content of a sealed frame.
func (r *Repo) opened(b Blob, frame []byte) ([]byte, error) {
	if !isSealed(frame) {
		return frame, nil
	}
	src, err := r.openSealed(b, bytes.NewReader(frame[sealHdr:]))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(src)
}

// frameReader streams the zstd frame of a stored message from its pack,
// decrypting a sealed one.
func (r *Repo) frameReader(f *os.File, b Blob) (io.Reader, error) {
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], b.Offset); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", f.Name(), b.Offset, err)
	}
	if binary.LittleEndian.Uint32(magic[:]) != sealMagic {
		return io.NewSectionReader(f, b.Offset, b.Length), nil
	}
	return r.openSealed(b, io.NewSectionReader(f, b.Offset+sealHdr, b.Length-sealHdr))
}

func (r *Repo) openSealed(b Blob, src io.Reader) (io.Reader, error) {
	out, err := r.openWith(src)
	if errors.Is(err, ErrNoIdentity) {
		return nil, fmt.Errorf("message %s is encrypted and %w", b.Hash, err)
	}
	if err != nil {
		return nil, fmt.Errorf("message %s: decrypt: %w", b.Hash, err)
	}
	return out, nil
}

func (r *Repo) openWith(src io.Reader) (io.Reader, error) {
	if r.seal == nil {
		return nil, fmt.Errorf("%w: encryption.identity_file is not set", ErrNoIdentity)
	}
	return r.seal.Open(src)
}

// CanRead says whether this Repo can read what it holds: nil, or an error
// naming the missing identity when the newest stored message is
// encrypted and there is nothing to decrypt it with. Export and restore
// check it first, to fail with one line instead of one per message.
func (r *Repo) CanRead(ctx context.Context) error {
	var b Blob
	var hash []byte
	err := r.rdb.QueryRowContext(ctx, `SELECT hash, pack, offset, length FROM blobs WHERE pack<>0 ORDER BY id DESC LIMIT 1`).
		Scan(&hash, &b.Pack, &b.Offset, &b.Length)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	copy(b.Hash[:], hash)
	f, err := r.packFile(b.Pack)
	if err != nil {
		return nil // reported by whatever reads it
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], b.Offset); err != nil || binary.LittleEndian.Uint32(magic[:]) != sealMagic {
		return nil
	}
	_, err = r.openWith(io.NewSectionReader(f, b.Offset+sealHdr, b.Length-sealHdr))
	if errors.Is(err, ErrNoIdentity) {
		return fmt.Errorf("archive %s is encrypted and %w", r.dir, err)
	}
	if err != nil {
		return fmt.Errorf("archive %s is encrypted: %w", r.dir, err)
	}
	return nil
}

// checkSealedOnly is verify's check of an encrypted message when there is
// no identity: sealed is false when the message can be read (it is not
// encrypted, or the identity is there) and is checked in full. Otherwise
// what can be checked is: the sealed frame's header, that its length is
// what the index says, and that the age header is well formed.
func (r *Repo) checkSealedOnly(f *os.File, b Blob) (sealed bool, err error) {
	var hdr [sealHdr]byte
	if _, err := f.ReadAt(hdr[:], b.Offset); err != nil {
		return false, nil // reported by the full check
	}
	if binary.LittleEndian.Uint32(hdr[:]) != sealMagic {
		return false, nil
	}
	// Without an identity, or with one the message is not encrypted to,
	// the content cannot be checked: that is not damage. (A readable
	// message, or a damaged one, gets the full check.)
	if _, err := r.openWith(io.NewSectionReader(f, b.Offset+sealHdr, b.Length-sealHdr)); !errors.Is(err, ErrNoIdentity) {
		return false, nil
	}
	r.unopened.Add(1)
	if n := int64(binary.LittleEndian.Uint32(hdr[4:])); n+sealHdr != b.Length {
		return true, fmt.Errorf("encrypted frame of %d bytes, index says %d", n+sealHdr, b.Length)
	}
	return true, checkAgeHeader(io.NewSectionReader(f, b.Offset+sealHdr, b.Length-sealHdr))
}

// PlainIn counts the messages stored unencrypted at offsets [from, to) of
// pack id: what a push with encryption on must not send. Packs that are
// not here (an archive pulled with --index-only) count as none.
func (r *Repo) PlainIn(ctx context.Context, pack, from, to int64) (int64, error) {
	f, err := r.packFile(pack)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	rows, err := r.rdb.QueryContext(ctx, `SELECT offset FROM blobs WHERE pack=? AND offset>=? AND offset<? ORDER BY offset`, pack, from, to)
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var off int64
		if err := rows.Scan(&off); err != nil {
			return n, fmt.Errorf("index: %w", err)
		}
		var magic [4]byte
		if _, err := f.ReadAt(magic[:], off); err != nil {
			return n, fmt.Errorf("read %s at %d: %w", f.Name(), off, err)
		}
		if binary.LittleEndian.Uint32(magic[:]) != sealMagic {
			n++
		}
	}
	return n, rows.Err()
}
