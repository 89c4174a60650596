package archive

import (
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// Hash is the SHA-256 of a message's exact bytes: its identity.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads a hex SHA-256.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("not a SHA-256 hex digest: %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// HashBytes returns the identity of raw.
func HashBytes(raw []byte) Hash { return sha256.Sum256(raw) }

// Blob is one stored message: where its zstd frame lives and what it holds.
type Blob struct {
	ID     int64 // blobs.id (0 where not known: a message scanned from a pack)
	Hash   Hash
	Pack   int64 // packs.id
	Offset int64 // of the zstd frame in the pack file
	Length int64 // compressed length
	Size   int64 // raw length
	Header HeaderInfo

	date string // its Date: header as written, for the open transaction's places (index.go)
}

// skippable frame that precedes every message frame: magic, length, hash.
// zstd -d skips it; it lets a damaged index be rebuilt from the packs.
const (
	skipMagic   = 0x184D2A50
	skipLen     = 8 + 32
	bigMessage  = BigMessage
	packPattern = `^[0-9]{8}\.pack$`
)

// BigMessage is the one size above which a message is never held in
// memory whole, anywhere in mailkeep: backup streams it from the network
// into a temp file and the pack, restore and export stream it back out.
const BigMessage = 4 << 20

var packNameRE = regexp.MustCompile(packPattern)

type packWriter struct {
	id        int64
	path      string
	f         *os.File
	size      int64
	committed int64
	unsynced  bool
	buf       []byte // append's, reused
}

func (p *packWriter) sync() error {
	if err := p.f.Sync(); err != nil {
		return err
	}
	p.unsynced = false
	return nil
}

func (p *packWriter) truncate(n int64) error {
	if err := p.f.Truncate(n); err != nil {
		return err
	}
	p.size = n
	return nil
}

func (p *packWriter) close() { p.f.Close() }

// append writes the hash frame and the message frame in one write: a
// system call a message instead of two (a backup of small messages made
// about 10 a message in all).
func (p *packWriter) append(h Hash, frame []byte) (int64, error) {
	b := append(p.buf[:0], make([]byte, skipLen)...)
	binary.LittleEndian.PutUint32(b[0:], skipMagic)
	binary.LittleEndian.PutUint32(b[4:], 32)
	copy(b[8:], h[:])
	b = append(b, frame...)
	if cap(b) <= 64<<10 {
		p.buf = b // reused for the next small message
	}
	if _, err := p.f.WriteAt(b, p.size); err != nil {
		return 0, err
	}
	off := p.size + skipLen
	p.size = off + int64(len(frame))
	p.unsynced = true
	return off, nil
}

// packLocked returns the pack to append to, sealing a full one and
// starting the next. r.mu must be held and a transaction open.
func (r *Repo) packLocked() (*packWriter, error) {
	if r.pack != nil && r.pack.size < r.packSize {
		return r.pack, nil
	}
	if r.pack != nil {
		if err := r.pack.sync(); err != nil {
			return nil, fmt.Errorf("sync %s: %w", r.pack.path, err)
		}
		if _, err := r.tx.Exec(`UPDATE packs SET size=?, sealed=1 WHERE id=?`, r.pack.size, r.pack.id); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		r.pack.close()
		r.pack = nil
	}
	var maxID sql.NullInt64
	if err := r.tx.QueryRow(`SELECT max(id) FROM packs`).Scan(&maxID); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	id := maxID.Int64 + 1
	name := fmt.Sprintf("%08d.pack", id)
	path := filepath.Join(r.dir, "data", name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create pack: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := r.tx.Exec(`INSERT INTO packs(id, name, size) VALUES(?,?,0)`, id, name); err != nil {
		f.Close()
		return nil, fmt.Errorf("index: %w", err)
	}
	r.pack = &packWriter{id: id, path: path, f: f}
	return r.pack, nil
}

func (p *packWriter) appendFile(h Hash, f *os.File, length int64) (int64, error) {
	var hdr [skipLen]byte
	binary.LittleEndian.PutUint32(hdr[0:], skipMagic)
	binary.LittleEndian.PutUint32(hdr[4:], 32)
	copy(hdr[8:], h[:])
	if _, err := p.f.WriteAt(hdr[:], p.size); err != nil {
		return 0, err
	}
	off := p.size + skipLen
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.Copy(io.NewOffsetWriter(p.f, off), f)
	if err != nil {
		return 0, err
	}
	if n != length {
		return 0, fmt.Errorf("short copy: %d of %d bytes", n, length)
	}
	p.size = off + n
	p.unsynced = true
	return off, nil
}
