package archive

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Reseal is what 'mailkeep repair --encrypt' does: it rewrites every
// message stored before encryption was turned on, encrypted, and removes
// the data files that held them. Crash-safe at every step:
//
//	the open pack holds unencrypted messages: seal it (a new pack is begun)
//	for each pack holding an unencrypted message, oldest first:
//		for each message in it: append it to the open pack, encrypted unless it
//		already is (its zstd frame as it was: nothing is recompressed),
//		and point its blobs row there; commit every few MiB (pack synced first)
//		no row names the old pack any more: one transaction deletes its packs
//		row and records meta retired:NAME; then the file is deleted, then the meta row
//
// Killed anywhere, the index names only bytes that are on disk; a file
// whose packs row is gone is named by retired:NAME until it is deleted
// (the next Reseal, or a writer's recovery, finishes that). The copies
// are byte for byte the messages they replace (verify checks the hash).

// ResealResult says what Reseal did.
type ResealResult struct {
	Messages int64    // messages rewritten (encrypted, or moved as they were)
	Bytes    int64    // stored bytes written
	Removed  []string // data files removed
}

// ResealProgress is told of each message moved; it may be nil.
type ResealProgress func(done, total int64)

// Reseal rewrites the archive's unencrypted messages encrypted (see
// above). The Repo must be a writer with a Sealer that has recipients.
func (r *Repo) Reseal(ctx context.Context, progress ResealProgress) (*ResealResult, error) {
	if r.readOnly {
		return nil, errors.New("archive opened read-only")
	}
	if r.seal == nil {
		return nil, errors.New("no encryption: set encryption.recipients in the config")
	}
	if w, err := r.seal.Seal(io.Discard); err != nil || w == nil {
		return nil, fmt.Errorf("no recipients to encrypt to: set encryption.recipients in the config (%v)", err)
	}
	res := &ResealResult{}
	if err := r.finishRetired(ctx, res); err != nil {
		return res, err
	}
	packs, total, err := r.plainPacks(ctx)
	if err != nil || len(packs) == 0 {
		return res, err
	}
	if err := r.sealOpenPackIf(ctx, packs); err != nil {
		return res, err
	}
	for _, id := range packs {
		if err := r.resealPack(ctx, id, res, total, progress); err != nil {
			return res, err
		}
	}
	return res, nil
}

// plainPacks lists the packs that hold an unencrypted message, and how
// many messages they hold in all.
func (r *Repo) plainPacks(ctx context.Context) ([]int64, int64, error) {
	rows, err := r.rdb.QueryContext(ctx, `SELECT id, size FROM packs ORDER BY id`)
	if err != nil {
		return nil, 0, fmt.Errorf("index: %w", err)
	}
	type pk struct{ id, size int64 }
	var all []pk
	for rows.Next() {
		var p pk
		if err := rows.Scan(&p.id, &p.size); err != nil {
			rows.Close()
			return nil, 0, err
		}
		all = append(all, p)
	}
	rows.Close()
	var out []int64
	var total int64
	for _, p := range all {
		n, err := r.PlainIn(ctx, p.id, 0, p.size+1)
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			continue
		}
		out = append(out, p.id)
		var c int64
		if err := r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM blobs WHERE pack=?`, p.id).Scan(&c); err != nil {
			return nil, 0, err
		}
		total += c
	}
	return out, total, nil
}

// sealOpenPackIf seals the pack being written when it is one of packs, so
// that messages are never copied into the pack they are copied out of.
func (r *Repo) sealOpenPackIf(ctx context.Context, packs []int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pack == nil {
		return nil
	}
	for _, id := range packs {
		if id != r.pack.id {
			continue
		}
		if err := r.begin(ctx); err != nil {
			return err
		}
		if err := r.pack.sync(); err != nil {
			return r.abortLocked(err)
		}
		if _, err := r.tx.Exec(`UPDATE packs SET size=?, sealed=1 WHERE id=?`, r.pack.size, r.pack.id); err != nil {
			return r.abortLocked(fmt.Errorf("index: %w", err))
		}
		if err := r.commitLocked(ctx); err != nil {
			return err
		}
		r.pack.close()
		r.pack = nil
	}
	return nil
}

const resealBatch = 16 << 20

func (r *Repo) resealPack(ctx context.Context, id int64, res *ResealResult, total int64, progress ResealProgress) error {
	var name string
	if err := r.rdb.QueryRowContext(ctx, `SELECT name FROM packs WHERE id=?`, id).Scan(&name); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	f, err := os.Open(filepath.Join(r.dir, "data", name))
	if err != nil {
		return fmt.Errorf("data file %s: %w", name, err)
	}
	defer f.Close()
	var pending int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Each round takes the pack's next messages: moved ones no longer
		// name it, so an interrupted run resumes where it stopped.
		batch, err := r.blobsIn(ctx, id, 256)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, b := range batch {
			if err := ctx.Err(); err != nil {
				return err // what is committed is consistent; the rest is rolled back
			}
			n, err := r.moveBlob(ctx, f, b)
			if err != nil {
				return fmt.Errorf("data file %s offset %d: message %s: %w", name, b.Offset, b.Hash, err)
			}
			res.Messages++
			res.Bytes += n
			pending += n
			if progress != nil {
				progress(res.Messages, total)
			}
			if pending >= resealBatch {
				if err := r.Commit(ctx); err != nil {
					return err
				}
				pending = 0
			}
		}
		if err := r.Commit(ctx); err != nil {
			return err
		}
		pending = 0
	}
	f.Close()
	return r.retire(ctx, id, name, res)
}

func (r *Repo) blobsIn(ctx context.Context, pack int64, limit int) ([]Blob, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The writer connection: it sees this Repo's own commits at once.
	rows, err := r.wdb.QueryContext(ctx, `SELECT hash, offset, length, size FROM blobs WHERE pack=? ORDER BY offset LIMIT ?`, pack, limit)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var out []Blob
	for rows.Next() {
		b := Blob{Pack: pack}
		var h []byte
		if err := rows.Scan(&h, &b.Offset, &b.Length, &b.Size); err != nil {
			return nil, err
		}
		copy(b.Hash[:], h)
		out = append(out, b)
	}
	return out, rows.Err()
}

// moveBlob appends b's stored frame, encrypted unless it already is, to
// the open pack and points b's row at it (in the open transaction).
func (r *Repo) moveBlob(ctx context.Context, f *os.File, b Blob) (int64, error) {
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], b.Offset); err != nil {
		return 0, err
	}
	sealed := binary.LittleEndian.Uint32(magic[:]) == sealMagic
	src := io.NewSectionReader(f, b.Offset, b.Length)
	var frame []byte
	var file *os.File
	if b.Length <= bigMessage {
		buf := make([]byte, b.Length)
		if _, err := io.ReadFull(src, buf); err != nil {
			return 0, err
		}
		frame = buf
		if !sealed {
			var err error
			if frame, err = r.sealFrame(buf); err != nil {
				return 0, err
			}
		}
	} else {
		tmpDir := filepath.Join(r.dir, "tmp")
		if err := os.MkdirAll(tmpDir, 0o700); err != nil {
			return 0, err
		}
		tf, err := os.CreateTemp(tmpDir, "reseal-*")
		if err != nil {
			return 0, err
		}
		defer func() { tf.Close(); os.Remove(tf.Name()) }()
		var w io.WriteCloser = nopWriteCloser{tf}
		if !sealed {
			if w, err = r.sealStream(tf); err != nil {
				return 0, err
			}
		}
		if _, err := io.Copy(w, src); err != nil {
			return 0, err
		}
		if err := w.Close(); err != nil {
			return 0, err
		}
		file = tf
	}
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin(ctx); err != nil {
		return 0, err
	}
	p, err := r.packLocked()
	if err != nil {
		return 0, r.abortLocked(err)
	}
	var off, length int64
	if file != nil {
		st, err := file.Stat()
		if err != nil {
			return 0, err
		}
		length = st.Size()
		off, err = p.appendFile(b.Hash, file, length)
		if err != nil {
			return 0, r.abortLocked(fmt.Errorf("write %s: %w", p.path, err))
		}
	} else {
		length = int64(len(frame))
		if off, err = p.append(b.Hash, frame); err != nil {
			return 0, r.abortLocked(fmt.Errorf("write %s: %w", p.path, err))
		}
	}
	if _, err := r.tx.Exec(`UPDATE blobs SET pack=?, offset=?, length=? WHERE substr(hash,1,8)=substr(?4,1,8) AND hash=?4`, p.id, off, length, b.Hash[:]); err != nil {
		return 0, r.abortLocked(fmt.Errorf("index: %w", err))
	}
	r.dirty = true
	return length, nil
}

// retire removes a pack no blob names any more: its row (with a note of
// its name, in the same transaction), then its file, then the note.
func (r *Repo) retire(ctx context.Context, id int64, name string, res *ResealResult) error {
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		var n int64
		if err := tx.QueryRow(`SELECT count(*) FROM blobs WHERE pack=?`, id).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("pack %s still holds %d messages", name, n)
		}
		if _, err := tx.Exec(`DELETE FROM packs WHERE id=?`, id); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)`, "retired:"+name, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: retire %s: %w", name, err)
	}
	if err := r.Commit(ctx); err != nil {
		return err
	}
	return r.finishRetired(ctx, res)
}

// retiredPack reports whether name is a data file a Reseal took out of
// the index and had not deleted yet: it explains the file.
func retiredPack(ctx context.Context, db *sql.DB, name string) bool {
	var one int
	return db.QueryRowContext(ctx, `SELECT 1 FROM meta WHERE key=?`, "retired:"+name).Scan(&one) == nil
}

// finishRetired deletes the data files whose packs rows a Reseal removed,
// then the notes that name them.
func (r *Repo) finishRetired(ctx context.Context, res *ResealResult) error {
	rows, err := r.wdb.QueryContext(ctx, `SELECT key, value FROM meta WHERE key LIKE 'retired:%'`)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	var keys, names []string
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return err
		}
		keys, names = append(keys, k), append(names, v)
	}
	rows.Close()
	for i, name := range names {
		if !packNameRE.MatchString(name) || strings.Contains(name, "/") {
			continue
		}
		var inUse int
		r.wdb.QueryRowContext(ctx, `SELECT count(*) FROM packs WHERE name=?`, name).Scan(&inUse)
		if inUse == 0 {
			if err := os.Remove(filepath.Join(r.dir, "data", name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if err := syncDir(filepath.Join(r.dir, "data")); err != nil {
				return err
			}
			res.Removed = append(res.Removed, name)
		}
		err := r.withTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`DELETE FROM meta WHERE key=?`, keys[i])
			return err
		})
		if err != nil {
			return err
		}
		if err := r.Commit(ctx); err != nil {
			return err
		}
	}
	return nil
}
