package offsite

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// DefaultPieceSize is the largest object push writes: pack bytes go up in
// pieces aligned to it, so an interrupted push of a big pack resumes with
// the pieces it already sent.
const DefaultPieceSize = 32 << 20

// Progress receives events; nil means none. Core packages never print.
type Progress interface {
	Uploaded(key string, bytes int64)
}

// PushOptions control a push. Nil means defaults and no encryption.
type PushOptions struct {
	Keys      *Keys // Recipients encrypt the index snapshot
	PieceSize int64 // default DefaultPieceSize
	Progress  Progress
}

// PushResult says what a push did.
type PushResult struct {
	Seq         int64
	Objects     int   // objects uploaded
	Bytes       int64 // bytes uploaded (pieces, index, manifest)
	PackBytes   int64 // of which pack pieces
	IndexBytes  int64 // of which the index snapshot
	Reused      int   // objects found already uploaded (by an interrupted push)
	Deleted     int   // objects no longer named (by this manifest or the one before) removed
	Duration    time.Duration
	RemotePacks int
}

// Push sends what the store lacks of the archive in dir: the new bytes of
// every pack, then an index snapshot, then a manifest naming them. It
// reads only committed data and may run beside a backup.
func Push(ctx context.Context, dir string, st Store, opts *PushOptions) (*PushResult, error) {
	if opts == nil {
		opts = &PushOptions{}
	}
	pieceSize := opts.PieceSize
	if pieceSize <= 0 {
		pieceSize = DefaultPieceSize
	}
	start := time.Now()
	repo, err := archive.Open(ctx, dir, nil)
	if err != nil {
		return nil, &Error{Permanent: true, Err: err}
	}
	defer repo.Close()
	lock, err := lockPush(ctx, repo.Dir())
	if err != nil {
		return nil, err
	}
	defer lock.release()
	encrypt := opts.Keys != nil && len(opts.Keys.Recipients) > 0

	tmp := filepath.Join(dir, ".offsite-tmp")
	os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, "index.db")
	if err := repo.SnapshotIndex(ctx, snap); err != nil {
		return nil, err
	}
	packs, err := archive.IndexPacks(ctx, snap)
	if err != nil {
		return nil, err
	}

	prev, err := Latest(ctx, st)
	if err != nil {
		return nil, err
	}
	stt, err := readState(dir)
	if err != nil {
		return nil, err
	}
	if stt.Writer == "" {
		stt.Writer = newWriterID()
	}
	mine := stt.Stores[st.String()]
	if prev != nil && prev.Seq == mine+1 && prev.Writer == stt.Writer {
		// This archive wrote that manifest and was stopped before it
		// recorded doing so.
		mine = prev.Seq
	}
	switch {
	case prev != nil && prev.Seq > mine && mine == 0:
		return nil, &Error{Permanent: true, Err: fmt.Errorf("%s already holds a copy of another archive (manifest %d): use another offsite.s3.prefix, or 'mailkeep pull' it and work from that", st, prev.Seq)}
	case prev != nil && prev.Seq > mine:
		return nil, &Error{Permanent: true, Err: fmt.Errorf("%s has manifest %d, newer than this archive's last push or pull (%d): another archive pushes there; pull it again or use another prefix", st, prev.Seq, mine)}
	case prev == nil && mine > 0:
		return nil, &Error{Permanent: true, Err: fmt.Errorf("%s holds no manifest but this archive pushed manifest %d there: the remote copy was deleted or the prefix changed; move %s away to start a new copy", st, mine, filepath.Join(dir, stateFile))}
	}

	res := &PushResult{}
	m := &Manifest{Format: formatName, Seq: 1, Created: time.Now().UTC(), Writer: stt.Writer, Encrypted: encrypt}
	old := map[int64]Pack{}
	if prev != nil {
		m.Seq = prev.Seq + 1
		for _, p := range prev.Packs {
			old[p.ID] = p
		}
	}
	up := &uploader{st: st, res: res, progress: opts.Progress}
	if encrypt {
		// Nothing readable leaves the machine: refuse before sending
		// anything when a range to send holds an unencrypted message.
		for _, p := range packs {
			rp := old[p.ID]
			from := rp.covered()
			if from >= p.Size {
				continue
			}
			n, err := repo.PlainIn(ctx, p.ID, from, p.Size)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				return nil, &Error{Permanent: true, Err: fmt.Errorf("archive %s: pack %s holds %d messages stored before encryption was turned on; they may not leave the machine unencrypted: run 'mailkeep repair --encrypt' first", dir, p.Name, n)}
			}
		}
	}
	for _, p := range packs {
		rp, had := old[p.ID]
		if had && rp.Name != p.Name {
			return nil, fmt.Errorf("%s: pack %d is %s there but %s here", st, p.ID, rp.Name, p.Name)
		}
		np := Pack{ID: p.ID, Name: p.Name, Size: p.Size, Sealed: p.Sealed, Pieces: append([]Piece(nil), rp.Pieces...)}
		off := np.covered()
		if off > p.Size {
			return nil, fmt.Errorf("%s holds %d bytes of pack %s, this archive only %d: it is not the archive that pushed there", st, off, p.Name, p.Size)
		}
		if off < p.Size {
			if err := up.pack(ctx, filepath.Join(dir, "data", p.Name), &np, off, pieceSize); err != nil {
				return nil, err
			}
		}
		m.Packs = append(m.Packs, np)
	}
	res.RemotePacks = len(m.Packs)

	// The index after every piece it names; the manifest after the index.
	// The index always goes: flags and run history change without new
	// pack bytes.
	idx, err := up.index(ctx, snap, tmp, opts.Keys)
	if err != nil {
		return nil, err
	}
	m.Index = idx
	if err := m.check(); err != nil {
		return nil, err
	}
	n, err := putManifest(ctx, st, m)
	if err != nil {
		return nil, err
	}
	res.Objects++
	res.Bytes += n
	res.Seq = m.Seq
	stt.Stores[st.String()] = m.Seq
	if err := writeState(dir, stt); err != nil {
		return nil, fmt.Errorf("record push in %s: %w", filepath.Join(dir, stateFile), err)
	}
	// Only now, with the new manifest in place: objects neither it nor
	// the one before names (old index snapshots, the remains of
	// interrupted pushes). The one before stays whole for a pull that
	// started before this push ended, unless it holds what must go: packs
	// repair --encrypt replaced, or an unencrypted index.
	keepPrev := prev
	if prev != nil && (dropsPacks(prev, m) || (m.Encrypted && !prev.Encrypted)) {
		keepPrev = nil
	}
	n, err = collect(ctx, st, m, keepPrev)
	res.Deleted = int(n)
	if err != nil {
		return res, fmt.Errorf("push done (manifest %d), but removing old objects failed: %w", m.Seq, err)
	}
	res.Duration = time.Since(start)
	return res, nil
}

type uploader struct {
	st       Store
	res      *PushResult
	progress Progress
}

// pack uploads bytes [off, np.Size) of the pack file at path as pieces.
func (u *uploader) pack(ctx context.Context, path string, np *Pack, off, pieceSize int64) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pack %s: %d of its %d bytes are not off-site yet and the file is not here (an archive pulled with --index-only has only new packs): %w", path, np.Size-off, np.Size, err)
		}
		return err
	}
	defer f.Close()
	for off < np.Size {
		end := min(np.Size, (off/pieceSize+1)*pieceSize)
		pc, err := u.piece(ctx, f, off, end-off)
		if err != nil {
			return fmt.Errorf("pack %s at %d: %w", path, off, err)
		}
		np.Pieces = append(np.Pieces, pc)
		off = end
	}
	return nil
}

func (u *uploader) piece(ctx context.Context, f *os.File, off, n int64) (Piece, error) {
	sh, mh := sha256.New(), md5.New()
	if _, err := io.Copy(io.MultiWriter(sh, mh), io.NewSectionReader(f, off, n)); err != nil {
		return Piece{}, err
	}
	pc := Piece{Offset: off, Length: n, SHA256: hex.EncodeToString(sh.Sum(nil)), MD5: hex.EncodeToString(mh.Sum(nil))}
	pc.Key = dataDir + pc.SHA256
	sent, err := u.put(ctx, pc, io.NewSectionReader(f, off, n))
	if err != nil {
		return Piece{}, err
	}
	if sent {
		u.res.PackBytes += n
	}
	return pc, nil
}

// put uploads one content-addressed object unless an interrupted push
// already did.
func (u *uploader) put(ctx context.Context, pc Piece, r io.Reader) (sent bool, err error) {
	if o, err := u.st.Stat(ctx, pc.Key); err == nil && o.Size == pc.Length && (o.ETag == pc.MD5 || !plainETag(o.ETag)) {
		u.res.Reused++
		return false, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if err := u.st.Put(ctx, pc.Key, r, pc.Length); err != nil {
		return false, err
	}
	u.res.Objects++
	u.res.Bytes += pc.Length
	if u.progress != nil {
		u.progress.Uploaded(pc.Key, pc.Length)
	}
	return true, nil
}

// index compresses (and encrypts) the snapshot into a temp file and
// uploads it.
func (u *uploader) index(ctx context.Context, snap, tmp string, k *Keys) (Piece, error) {
	src, err := os.Open(snap)
	if err != nil {
		return Piece{}, err
	}
	defer src.Close()
	out, err := os.CreateTemp(tmp, "index-*.up")
	if err != nil {
		return Piece{}, err
	}
	defer out.Close()
	sh, mh := sha256.New(), md5.New()
	w := io.MultiWriter(out, sh, mh)
	if err := sealIndex(w, src, k); err != nil {
		return Piece{}, fmt.Errorf("index snapshot: %w", err)
	}
	n, err := out.Seek(0, io.SeekCurrent)
	if err != nil {
		return Piece{}, err
	}
	pc := Piece{Length: n, SHA256: hex.EncodeToString(sh.Sum(nil)), MD5: hex.EncodeToString(mh.Sum(nil))}
	pc.Key = indexDir + pc.SHA256
	sent, err := u.put(ctx, pc, io.NewSectionReader(out, 0, n))
	if err != nil {
		return Piece{}, err
	}
	if sent {
		u.res.IndexBytes = n
	}
	return pc, nil
}

// dropsPacks reports whether m no longer names a pack prev named.
func dropsPacks(prev, m *Manifest) bool {
	have := map[int64]bool{}
	for _, p := range m.Packs {
		have[p.ID] = true
	}
	for _, p := range prev.Packs {
		if !have[p.ID] {
			return true
		}
	}
	return false
}

// plainETag reports whether an ETag is an MD5 (single-part upload) rather
// than a multipart or checksum-derived one.
func plainETag(e string) bool {
	if len(e) != 32 {
		return false
	}
	_, err := hex.DecodeString(e)
	return err == nil
}
