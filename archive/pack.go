package archive

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
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
	Hash   Hash
	Pack   int64 // packs.id
	Offset int64 // of the zstd frame in the pack file
	Length int64 // compressed length
	Size   int64 // raw length
	Header HeaderInfo
}

// skippable frame that precedes every message frame: magic, length, hash.
// zstd -d skips it; it lets a damaged index be rebuilt from the packs.
const (
	skipMagic   = 0x184D2A50
	skipLen     = 8 + 32
	bigMessage  = 8 << 20 // above this, messages stream through a temp file
	packPattern = `^[0-9]{8}\.pack$`
)

var packNameRE = regexp.MustCompile(packPattern)

type packWriter struct {
	id        int64
	path      string
	f         *os.File
	size      int64
	committed int64
	unsynced  bool
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

func (p *packWriter) append(h Hash, frame []byte) (int64, error) {
	var hdr [skipLen]byte
	binary.LittleEndian.PutUint32(hdr[0:], skipMagic)
	binary.LittleEndian.PutUint32(hdr[4:], 32)
	copy(hdr[8:], h[:])
	if _, err := p.f.WriteAt(hdr[:], p.size); err != nil {
		return 0, err
	}
	off := p.size + skipLen
	if _, err := p.f.WriteAt(frame, off); err != nil {
		return 0, err
	}
	p.size = off + int64(len(frame))
	p.unsynced = true
	return off, nil
}

// recoverPacks runs when a writer opens the repository: bytes past the
// committed size of the open pack, and pack files the index never
// committed, are the remains of an interrupted run; they are removed.
func (r *Repo) recoverPacks(ctx context.Context) error {
	os.RemoveAll(filepath.Join(r.dir, "tmp"))
	known := map[string]bool{}
	rows, err := r.wdb.QueryContext(ctx, `SELECT id, name, size, sealed FROM packs ORDER BY id`)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	type pk struct {
		id, size int64
		name     string
		sealed   bool
	}
	var last *pk
	for rows.Next() {
		var p pk
		if err := rows.Scan(&p.id, &p.name, &p.size, &p.sealed); err != nil {
			rows.Close()
			return err
		}
		known[p.name] = true
		last = &p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(filepath.Join(r.dir, "data"))
	if err != nil {
		return fmt.Errorf("archive data: %w", err)
	}
	for _, e := range ents {
		if packNameRE.MatchString(e.Name()) && !known[e.Name()] {
			os.Remove(filepath.Join(r.dir, "data", e.Name()))
		}
	}
	if last == nil || last.sealed {
		return nil
	}
	path := filepath.Join(r.dir, "data", last.name)
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open pack: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if st.Size() < last.size {
		f.Close()
		return fmt.Errorf("pack %s is %d bytes but the index says %d: the data file is damaged (run mailkeep verify)", path, st.Size(), last.size)
	}
	if st.Size() > last.size {
		if err := f.Truncate(last.size); err != nil {
			f.Close()
			return fmt.Errorf("cut uncommitted tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	r.pack = &packWriter{id: last.id, path: path, f: f, size: last.size, committed: last.size}
	return nil
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
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
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

// HasBlob reports whether a message with this hash is stored (committed or
// pending in the open transaction).
func (r *Repo) HasBlob(ctx context.Context, h Hash) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hasBlobLocked(ctx, h)
}

func (r *Repo) hasBlobLocked(ctx context.Context, h Hash) (bool, error) {
	if _, ok := r.pending[h]; ok {
		return true, nil
	}
	var one int
	var err error
	if r.tx != nil {
		err = r.tx.QueryRowContext(ctx, `SELECT 1 FROM blobs WHERE hash=?`, h[:]).Scan(&one)
	} else if r.wdb != nil {
		err = r.wdb.QueryRowContext(ctx, `SELECT 1 FROM blobs WHERE hash=?`, h[:]).Scan(&one)
	} else {
		err = r.rdb.QueryRowContext(ctx, `SELECT 1 FROM blobs WHERE hash=?`, h[:]).Scan(&one)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("index: %w", err)
	}
	return true, nil
}

// Prepared is a message hashed and, unless already stored, compressed:
// the CPU work of storing, done outside the writer lock so that several
// goroutines can prepare while one appends.
type Prepared struct {
	Hash   Hash
	Size   int64
	Exists bool // already in the archive when prepared
	header HeaderInfo
	frame  []byte
}

// Prepare hashes raw and compresses it if the archive does not hold it.
func (r *Repo) Prepare(ctx context.Context, raw []byte) (*Prepared, error) {
	p := &Prepared{Hash: HashBytes(raw), Size: int64(len(raw))}
	ok, err := r.HasBlob(ctx, p.Hash)
	if err != nil {
		return nil, err
	}
	if ok {
		p.Exists = true
		return p, nil
	}
	p.header = ParseHeader(raw)
	p.frame = r.enc.EncodeAll(raw, make([]byte, 0, len(raw)/2+64))
	return p, nil
}

// Put stores a prepared message; added is false when it was already stored.
func (r *Repo) Put(ctx context.Context, p *Prepared) (bool, error) {
	if p.Exists {
		return false, nil
	}
	return r.putFrame(ctx, p.Hash, p.Size, p.header, p.frame, nil)
}

// PutMessage stores raw unless a message with the same bytes is already
// stored. It returns the message's hash and whether it was new. The write
// becomes durable at the next Commit.
func (r *Repo) PutMessage(ctx context.Context, raw []byte) (Hash, bool, error) {
	p, err := r.Prepare(ctx, raw)
	if err != nil {
		return Hash{}, false, err
	}
	added, err := r.Put(ctx, p)
	return p.Hash, added, err
}

// PutMessageReader stores a message read from src, streaming it (for large
// messages; memory stays flat). size is the expected length, or -1.
func (r *Repo) PutMessageReader(ctx context.Context, src io.Reader, size int64) (Hash, int64, bool, error) {
	if size >= 0 && size <= bigMessage {
		raw := make([]byte, size)
		if _, err := io.ReadFull(src, raw); err != nil {
			return Hash{}, 0, false, err
		}
		h, added, err := r.PutMessage(ctx, raw)
		return h, size, added, err
	}
	tmpDir := filepath.Join(r.dir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return Hash{}, 0, false, err
	}
	tf, err := os.CreateTemp(tmpDir, "msg-*")
	if err != nil {
		return Hash{}, 0, false, err
	}
	defer func() { tf.Close(); os.Remove(tf.Name()) }()
	hasher := sha256.New()
	head := &headCapture{max: 64 << 10}
	enc, err := newStreamEncoder(tf)
	if err != nil {
		return Hash{}, 0, false, err
	}
	n, err := io.Copy(io.MultiWriter(hasher, head, enc), src)
	if err == nil && size >= 0 && n != size {
		// A reader that ends early with a plain EOF (go-imap does this when
		// the connection drops inside a literal) must not pass for a
		// complete message.
		err = fmt.Errorf("message ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		enc.Close()
		return Hash{}, n, false, err
	}
	if err := enc.Close(); err != nil {
		return Hash{}, n, false, err
	}
	var h Hash
	copy(h[:], hasher.Sum(nil))
	if ok, err := r.HasBlob(ctx, h); err != nil || ok {
		return h, n, false, err
	}
	added, err := r.putFrame(ctx, h, n, ParseHeader(head.buf), nil, tf)
	return h, n, added, err
}

// putFrame appends one compressed message (frame, or the whole of file)
// to the open pack and records it in the open transaction.
func (r *Repo) putFrame(ctx context.Context, h Hash, size int64, hi HeaderInfo, frame []byte, file *os.File) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin(ctx); err != nil {
		return false, err
	}
	if ok, err := r.hasBlobLocked(ctx, h); err != nil || ok {
		return false, err
	}
	p, err := r.packLocked()
	if err != nil {
		return false, r.abortLocked(err)
	}
	var off, length int64
	if file != nil {
		st, err := file.Stat()
		if err != nil {
			return false, err
		}
		length = st.Size()
		off, err = p.appendFile(h, file, length)
		if err != nil {
			return false, r.abortLocked(fmt.Errorf("write %s: %w", p.path, err))
		}
	} else {
		length = int64(len(frame))
		off, err = p.append(h, frame)
		if err != nil {
			return false, r.abortLocked(fmt.Errorf("write %s: %w", p.path, err))
		}
	}
	b := Blob{Hash: h, Pack: p.id, Offset: off, Length: length, Size: size, Header: hi}
	_, err = r.tx.ExecContext(ctx, `INSERT INTO blobs(hash, pack, offset, length, size, stored_at, message_id, subject, sender, date_header)
		VALUES(?,?,?,?,?,?,?,?,?,?)`, h[:], p.id, off, length, size, time.Now().Unix(),
		hi.MessageID, hi.Subject, hi.From, hi.Date)
	if err != nil {
		return false, r.abortLocked(fmt.Errorf("index: %w", err))
	}
	r.pending[h] = b
	r.dirty = true
	return true, nil
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

type headCapture struct {
	buf []byte
	max int
}

func (c *headCapture) Write(p []byte) (int, error) {
	if room := c.max - len(c.buf); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		c.buf = append(c.buf, p[:room]...)
	}
	return len(p), nil
}

// blob looks a stored message up by hash.
func (r *Repo) blob(ctx context.Context, h Hash) (Blob, error) {
	r.mu.Lock()
	if b, ok := r.pending[h]; ok {
		r.mu.Unlock()
		return b, nil
	}
	r.mu.Unlock()
	b := Blob{Hash: h}
	err := r.rdb.QueryRowContext(ctx, `SELECT pack, offset, length, size FROM blobs WHERE hash=?`, h[:]).
		Scan(&b.Pack, &b.Offset, &b.Length, &b.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("message %s: %w", h, os.ErrNotExist)
	}
	if err != nil {
		return b, fmt.Errorf("index: %w", err)
	}
	return b, nil
}

func (r *Repo) packFile(id int64) (*os.File, error) {
	r.packsMu.Lock()
	defer r.packsMu.Unlock()
	if f, ok := r.readers[id]; ok {
		return f, nil
	}
	path := filepath.Join(r.dir, "data", fmt.Sprintf("%08d.pack", id))
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r.readers[id] = f
	return f, nil
}

// PackPath is the file name of pack id, for messages about damage.
func (r *Repo) PackPath(id int64) string {
	return filepath.Join(r.dir, "data", fmt.Sprintf("%08d.pack", id))
}

// ReadMessage returns the exact bytes of the stored message h.
func (r *Repo) ReadMessage(ctx context.Context, h Hash) ([]byte, error) {
	b, err := r.blob(ctx, h)
	if err != nil {
		return nil, err
	}
	return r.readBlob(b)
}

func (r *Repo) readBlob(b Blob) ([]byte, error) {
	f, err := r.packFile(b.Pack)
	if err != nil {
		return nil, err
	}
	comp := make([]byte, b.Length)
	if _, err := f.ReadAt(comp, b.Offset); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", f.Name(), b.Offset, err)
	}
	raw, err := r.dec.DecodeAll(comp, make([]byte, 0, b.Size))
	if err != nil {
		return nil, fmt.Errorf("decompress %s at %d: %w", f.Name(), b.Offset, err)
	}
	return raw, nil
}

// OpenMessage streams the stored message h; memory stays flat whatever its
// size. The caller closes the reader.
func (r *Repo) OpenMessage(ctx context.Context, h Hash) (io.ReadCloser, int64, error) {
	b, err := r.blob(ctx, h)
	if err != nil {
		return nil, 0, err
	}
	rc, err := r.openBlob(b)
	return rc, b.Size, err
}

func (r *Repo) openBlob(b Blob) (io.ReadCloser, error) {
	f, err := r.packFile(b.Pack)
	if err != nil {
		return nil, err
	}
	if b.Size <= bigMessage {
		raw, err := r.readBlob(b)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytesReader(raw)), nil
	}
	return newStreamDecoder(io.NewSectionReader(f, b.Offset, b.Length))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
