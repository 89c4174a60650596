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
// many windows queued, a verify holds 2*GOMAXPROCS+1 of them. (256 KiB
// read as fast as 1 MiB: the kernel reads ahead.)
const verifyWindow = 256 << 10

// verifyBatch is one window of a pack and the blobs whose bytes are in it.
// Batches (window and list) are recycled: a verify allocates a few of
// them however many messages it reads.
type verifyBatch struct {
	pack   int64
	base   int64 // pack offset of buf[0]
	buf    []byte
	window bool // buf holds the blobs' bytes; else each is read alone
	blobs  []verifyBlob
	bytes  int64 // their raw size
}

// verifyBlob is the part of a Blob verify needs.
type verifyBlob struct {
	hash                       Hash
	pack, offset, length, size int64
}

func (v *verifyBlob) blob() Blob {
	return Blob{Hash: v.hash, Pack: v.pack, Offset: v.offset, Length: v.length, Size: v.size}
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
func (r *Repo) verifyBlobs(ctx context.Context, next func(*verifyBlob) (bool, error), tally *verifyTally) error {
	workers := runtime.GOMAXPROCS(0)
	batches := make(chan *verifyBatch, workers)
	// Alive at once: one being filled, those queued, one a worker.
	pool := make(chan *verifyBatch, 2*workers+1)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw []byte
			for bt := range batches {
				var damaged []Damage
				for i := range bt.blobs {
					b := &bt.blobs[i]
					var err error
					raw, err = r.checkInWindow(b, bt, raw)
					if err != nil {
						damaged = append(damaged, Damage{Hash: b.hash, Pack: r.PackPath(b.pack), Offset: b.offset, Err: err})
					}
				}
				tally.add(int64(len(bt.blobs)), bt.bytes, damaged)
				select {
				case pool <- bt:
				default:
				}
			}
		}()
	}
	err := r.readBatches(ctx, next, batches, pool)
	close(batches)
	wg.Wait()
	return err
}

// readBatches groups the blobs into windows and reads each window once.
func (r *Repo) readBatches(ctx context.Context, next func(*verifyBlob) (bool, error), batches chan<- *verifyBatch, pool chan *verifyBatch) error {
	var cur *verifyBatch
	send := func() error {
		if cur == nil {
			return nil
		}
		if cur.window {
			if err := r.fillWindow(cur); err != nil {
				// The whole window could not be read: each of its
				// messages is checked alone, and its damage named.
				cur.window = false
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
	var b verifyBlob
	for {
		ok, err := next(&b)
		if err != nil || !ok {
			if serr := send(); err == nil {
				err = serr
			}
			return err
		}
		start, end := b.offset-skipLen, b.offset+b.length
		alone := b.size > bigMessage || b.length+skipLen > verifyWindow || start < 0
		if cur != nil && (alone || !cur.window || b.pack != cur.pack || start < cur.base || end-cur.base > verifyWindow) {
			if err := send(); err != nil {
				return err
			}
		}
		if cur == nil {
			select {
			case cur = <-pool:
			default:
				cur = &verifyBatch{}
			}
			cur.pack, cur.base, cur.window, cur.blobs, cur.bytes = b.pack, start, !alone, cur.blobs[:0], 0
			cur.buf = cur.buf[:0]
			if cur.window && cap(cur.buf) < verifyWindow {
				cur.buf = make([]byte, 0, verifyWindow)
			}
		}
		cur.blobs = append(cur.blobs, b)
		cur.bytes += b.size
		if need := end - cur.base; cur.window && need > int64(len(cur.buf)) {
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
func (r *Repo) checkInWindow(b *verifyBlob, bt *verifyBatch, raw []byte) ([]byte, error) {
	if !bt.window {
		return raw, r.checkBlob(b.blob())
	}
	at := b.offset - skipLen - bt.base
	hdr, frame := bt.buf[at:at+skipLen], bt.buf[at+skipLen:at+skipLen+b.length]
	if binary.LittleEndian.Uint32(hdr[0:]) != skipMagic || binary.LittleEndian.Uint32(hdr[4:]) != 32 || Hash(hdr[8:]) != b.hash {
		return raw, fmt.Errorf("frame header does not name this message")
	}
	if isSealed(frame) {
		return raw, r.checkBlob(b.blob()) // seal.go: with or without the identity
	}
	out, err := r.dec.DecodeAll(frame, raw[:0])
	if err != nil {
		return raw, fmt.Errorf("decompress: %w", err)
	}
	if int64(len(out)) != b.size {
		return out, fmt.Errorf("size %d, index says %d", len(out), b.size)
	}
	if sha256.Sum256(out) != b.hash {
		return out, fmt.Errorf("content hash mismatch")
	}
	return out, nil
}
