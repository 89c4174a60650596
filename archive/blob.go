package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// HasBlob reports whether a message with this hash is stored (committed or
// pending in the open transaction).
func (r *Repo) HasBlob(ctx context.Context, h Hash) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hasBlobLocked(ctx, h)
}

func (r *Repo) hasBlobLocked(ctx context.Context, h Hash) (bool, error) {
	id, pack, err := r.blobIDLocked(ctx, h)
	return id != 0 && pack != 0, err
}

// blobIDLocked finds the blobs row of h: its id (0: none) and pack (0:
// missing, its message is not stored). r.mu is held.
func (r *Repo) blobIDLocked(ctx context.Context, h Hash) (id, pack int64, err error) {
	if b, ok := r.pending[h]; ok {
		return b.ID, b.Pack, nil
	}
	if f := r.blobFilterLocked(ctx); f != nil && !f.mayHave(h[:8]) {
		return 0, 0, nil // bloom.go: certainly not in blobs
	}
	if r.tx != nil {
		var st *sql.Stmt
		if st, err = r.txStmt(ctx, sqlBlobByHash); err == nil {
			err = st.QueryRowContext(ctx, h[:]).Scan(&id, &pack)
		}
	} else if r.wdb != nil {
		err = r.wdb.QueryRowContext(ctx, sqlBlobByHash, h[:]).Scan(&id, &pack)
	} else {
		err = r.rdb.QueryRowContext(ctx, sqlBlobByHash, h[:]).Scan(&id, &pack)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("index: %w", err)
	}
	return id, pack, nil
}

// Prepared is a message hashed and, unless already stored, compressed:
// the CPU work of storing, done outside the writer lock so that several
// goroutines can prepare while one appends.
type Prepared struct {
	Hash   Hash
	Size   int64
	Exists bool   // already in the archive when prepared
	date   string // its Date: header as written
	frame  []byte
	seen   blobSeen // what Prepare found in the index
}

// blobSeen is a lookup of a hash in the index: its row (id 0: none), and
// the transaction it was made in (Repo.txGen). Until that transaction
// ends it stays true but for rows added since, which are in Repo.pending:
// Put need not look the hash up again.
type blobSeen struct {
	id, pack, gen int64
	valid         bool
}

// Prepare hashes raw and compresses it if the archive does not hold it.
func (r *Repo) Prepare(ctx context.Context, raw []byte) (*Prepared, error) {
	p := &Prepared{Hash: HashBytes(raw), Size: int64(len(raw))}
	r.mu.Lock()
	id, pack, err := r.blobIDLocked(context.WithoutCancel(ctx), p.Hash)
	p.seen = blobSeen{id: id, pack: pack, gen: r.txGen, valid: err == nil}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if id != 0 && pack != 0 {
		p.Exists = true
		return p, nil
	}
	p.date = dateField(raw)
	p.frame = r.enc.EncodeAll(raw, make([]byte, 0, len(raw)/2+64))
	if p.frame, err = r.sealFrame(p.frame); err != nil { // seal.go
		return nil, err
	}
	return p, nil
}

// Put stores a prepared message; added is false when it was already stored.
func (r *Repo) Put(ctx context.Context, p *Prepared) (bool, error) {
	if p.Exists {
		return false, nil
	}
	return r.putFrame(ctx, p.Hash, p.Size, p.date, p.frame, nil, p.seen)
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
	sw, err := r.sealStream(tf) // seal.go: tf itself unless encrypting
	if err != nil {
		return Hash{}, 0, false, err
	}
	enc, err := newStreamEncoder(sw)
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
	if err := sw.Close(); err != nil {
		return Hash{}, n, false, err
	}
	var h Hash
	copy(h[:], hasher.Sum(nil))
	if ok, err := r.HasBlob(ctx, h); err != nil || ok {
		return h, n, false, err
	}
	added, err := r.putFrame(ctx, h, n, dateField(head.buf), nil, tf, blobSeen{})
	return h, n, added, err
}

// putFrame appends one compressed message (frame, or the whole of file)
// to the open pack and records it in the open transaction.
func (r *Repo) putFrame(ctx context.Context, h Hash, size int64, date string, frame []byte, file *os.File, seen blobSeen) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin(ctx); err != nil {
		return false, err
	}
	var id, stored int64
	var err error
	if _, pending := r.pending[h]; seen.valid && seen.gen == r.txGen && !pending {
		id, stored = seen.id, seen.pack
	} else if id, stored, err = r.blobIDLocked(ctx, h); err != nil {
		return false, err
	}
	if id != 0 && stored != 0 {
		return false, nil
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
	b := Blob{ID: id, Hash: h, Pack: p.id, Offset: off, Length: length, Size: size, date: date}
	if id != 0 {
		// Its place kept naming it while its copy was missing. Its old id
		// may be under the search index's mark (searchmark.go).
		if r.indexer != nil {
			if err := r.indexer.dropMark(ctx); err != nil {
				return false, r.abortLocked(fmt.Errorf("search index: %w", err))
			}
		}
		var st *sql.Stmt
		if st, err = r.txStmt(ctx, sqlRestoreBlob); err == nil {
			_, err = st.ExecContext(ctx, p.id, off, length, size, id)
		}
	} else {
		var st *sql.Stmt
		var res sql.Result
		if st, err = r.txStmt(ctx, sqlInsertBlob); err == nil {
			if res, err = st.ExecContext(ctx, h[:], p.id, off, length, size); err == nil {
				b.ID, err = res.LastInsertId()
			}
		}
	}
	if err == nil && r.indexer != nil {
		r.indexer.note(b.ID) // searchindexer.go: its text is indexed after it is stored
	}
	if err != nil {
		return false, r.abortLocked(fmt.Errorf("index: %w", err))
	}
	r.pending[h] = b
	r.noteBlobLocked(h)
	r.dirty = true
	return true, nil
}

// headerOf reads the header fields of a stored message (they are not in
// the index): a small message whole, a larger one only up to the end of
// its header (at most 64 KiB), decompressed as a stream. A message that
// cannot be read has none (verify reports it).
func (r *Repo) headerOf(b Blob) HeaderInfo {
	if b.Size <= 16<<10 {
		raw, err := r.readBlob(b)
		if err != nil {
			return HeaderInfo{}
		}
		return ParseHeader(raw)
	}
	f, err := r.packFile(b.Pack)
	if err != nil {
		return HeaderInfo{}
	}
	src, err := r.frameReader(f, b) // seal.go
	if err != nil {
		return HeaderInfo{}
	}
	d := headDecoders.Get().(*zstd.Decoder)
	defer func() { d.Reset(nil); headDecoders.Put(d) }()
	if err := d.Reset(src); err != nil {
		return HeaderInfo{}
	}
	head := make([]byte, 0, 8<<10)
	buf := make([]byte, 4<<10)
	for len(head) < 64<<10 {
		n, err := d.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil || bytes.Contains(head, []byte("\n\r\n")) || bytes.Contains(head, []byte("\n\n")) {
			break
		}
	}
	return ParseHeader(head)
}

// headDecoders decode the start of large messages for headerOf.
var headDecoders = sync.Pool{New: func() any {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(64<<20))
	return d
}}

// HeaderOf reads the header fields of the stored message h.
func (r *Repo) HeaderOf(ctx context.Context, h Hash) (HeaderInfo, error) {
	b, err := r.blob(ctx, h)
	if err != nil {
		return HeaderInfo{}, err
	}
	return r.headerOf(b), nil
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
		if b.Pack == 0 { // a place's row for a message not stored (placeBlobLocked)
			return b, fmt.Errorf("message %s: %w", h, os.ErrNotExist)
		}
		return b, nil
	}
	r.mu.Unlock()
	b, err := r.committedBlob(ctx, h)
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("message %s: %w", h, os.ErrNotExist)
	}
	if err != nil {
		return b, fmt.Errorf("index: %w", err)
	}
	return b, nil
}

// committedBlob reads where the committed, stored message h is
// (sql.ErrNoRows: none, or missing). It takes no lock: callers that hold
// r.mu look in r.pending first themselves.
func (r *Repo) committedBlob(ctx context.Context, h Hash) (Blob, error) {
	b := Blob{Hash: h}
	err := r.rdb.QueryRowContext(ctx, `SELECT pack, offset, length, size FROM blobs
		WHERE substr(hash,1,8)=substr(?1,1,8) AND hash=?1 AND pack<>0`, h[:]).
		Scan(&b.Pack, &b.Offset, &b.Length, &b.Size)
	return b, err
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
	if comp, err = r.opened(b, comp); err != nil { // seal.go: decrypt a sealed frame
		return nil, err
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
	src, err := r.frameReader(f, b) // seal.go
	if err != nil {
		return nil, err
	}
	return newStreamDecoder(src)
}
