package archive

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Verify reads the data files front to back: the blobs come in id order,
// which is the order they were appended in (pack and offset), and the bytes of a run of neighbours are read with one
// ReadAt of up to verifyWindow into a buffer that workers then check
// message by message (decompress, size, SHA-256) with buffers of their
// own. One syscall per window instead of two per message, no allocation
// per message, and the disk reads the packs sequentially. Encrypted and
// big messages, and one that does not fit a window, are checked the usual
// way (checkBlob).

// verifyWindow is the most read at once; with GOMAXPROCS workers and as
// many windows queued, a verify holds a few MiB of them.
const verifyWindow = 1 << 20

// verifyBatch is one window of a pack and the blobs whose bytes are in it.
type verifyBatch struct {
	pack  int64
	base  int64 // pack offset of buf[0]
	buf   []byte
	blobs []Blob
	bytes int64 // their raw size
}

// verifyTally is what workers report, under mu.
type verifyTally struct {
	mu       sync.Mutex
	res      *VerifyResult
	total    int64
	progress VerifyProgress
}

func (t *verifyTally) add(checked, bytes int64, damaged []Damage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Checked += checked
	t.res.Bytes += bytes
	t.res.Damaged = append(t.res.Damaged, damaged...)
	if t.progress != nil {
		t.progress(t.res.Checked, t.total, t.res.Bytes)
	}
}

// verifyBlobs checks every blob next yields (in pack and offset order the
// reads are sequential; any order works).
func (r *Repo) verifyBlobs(ctx context.Context, next func() (Blob, bool, error), tally *verifyTally) error {
	batches := make(chan *verifyBatch, runtime.GOMAXPROCS(0))
	free := make(chan []byte, 2*runtime.GOMAXPROCS(0)+1) // windows to reuse
	var wg sync.WaitGroup
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw []byte
			for bt := range batches {
				var damaged []Damage
				for _, b := range bt.blobs {
					var err error
					raw, err = r.checkInWindow(b, bt, raw)
					if err != nil {
						damaged = append(damaged, Damage{Hash: b.Hash, Pack: r.PackPath(b.Pack), Offset: b.Offset, Err: err})
					}
				}
				tally.add(int64(len(bt.blobs)), bt.bytes, damaged)
				if bt.buf != nil {
					select {
					case free <- bt.buf[:0]:
					default:
					}
				}
			}
		}()
	}
	err := r.readBatches(ctx, next, batches, free)
	close(batches)
	wg.Wait()
	return err
}

// readBatches groups the blobs into windows and reads each window once.
func (r *Repo) readBatches(ctx context.Context, next func() (Blob, bool, error), batches chan<- *verifyBatch, free chan []byte) error {
	var cur *verifyBatch
	send := func() error {
		if cur == nil {
			return nil
		}
		if cur.buf != nil {
			if err := r.fillWindow(cur); err != nil {
				// The whole window could not be read: each of its
				// messages is checked alone, and its damage named.
				cur.buf = nil
			}
		}
		select {
		case batches <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		cur = nil
		return nil
	}
	for {
		b, ok, err := next()
		if err != nil || !ok {
			if serr := send(); err == nil {
				err = serr
			}
			return err
		}
		start, end := b.Offset-skipLen, b.Offset+b.Length
		alone := b.Size > bigMessage || b.Length+skipLen > verifyWindow || start < 0
		if cur != nil && (alone || cur.buf == nil || b.Pack != cur.pack || start < cur.base || end-cur.base > verifyWindow) {
			if err := send(); err != nil {
				return err
			}
		}
		if cur == nil {
			cur = &verifyBatch{pack: b.Pack, base: start}
			if !alone {
				select {
				case cur.buf = <-free:
				default:
					cur.buf = make([]byte, 0, verifyWindow)
				}
			}
		}
		cur.blobs = append(cur.blobs, b)
		cur.bytes += b.Size
		if need := end - cur.base; cur.buf != nil && need > int64(len(cur.buf)) {
			cur.buf = cur.buf[:need] // a blob may come before its neighbour in the pack
		}
		if alone {
			if err := send(); err != nil {
				return err
			}
		}
	}
}

// fillWindow reads the batch's bytes from its pack.
func (r *Repo) fillWindow(bt *verifyBatch) error {
	f, err := r.packFile(bt.pack)
	if err != nil {
		return err
	}
	n, err := f.ReadAt(bt.buf, bt.base)
	if errors.Is(err, io.EOF) && n == len(bt.buf) {
		err = nil
	}
	return err
}

// checkInWindow checks one message from the batch's window (or, without
// one, from its pack), decompressing into raw; it returns raw for reuse.
func (r *Repo) checkInWindow(b Blob, bt *verifyBatch, raw []byte) ([]byte, error) {
	if bt.buf == nil {
		return raw, r.checkBlob(b)
	}
	at := b.Offset - skipLen - bt.base
	hdr, frame := bt.buf[at:at+skipLen], bt.buf[at+skipLen:at+skipLen+b.Length]
	if binary.LittleEndian.Uint32(hdr[0:]) != skipMagic || binary.LittleEndian.Uint32(hdr[4:]) != 32 || Hash(hdr[8:]) != b.Hash {
		return raw, fmt.Errorf("frame header does not name this message")
	}
	if isSealed(frame) {
		return raw, r.checkBlob(b) // seal.go: with or without the identity
	}
	out, err := r.dec.DecodeAll(frame, raw[:0])
	if err != nil {
		return raw, fmt.Errorf("decompress: %w", err)
	}
	if int64(len(out)) != b.Size {
		return out, fmt.Errorf("size %d, index says %d", len(out), b.Size)
	}
	if sha256.Sum256(out) != b.Hash {
		return out, fmt.Errorf("content hash mismatch")
	}
	return out, nil
}
