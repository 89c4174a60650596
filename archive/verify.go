package archive

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Damage is one stored message that does not read back as it was stored.
type Damage struct {
	Hash   Hash
	Pack   string // data file
	Offset int64
	Err    error
	Places []string // "account/folder uid N" (or "uidl X") of every place that held it
}

func (d Damage) Error() string {
	return fmt.Sprintf("%s at offset %d: message %s: %v", d.Pack, d.Offset, d.Hash, d.Err)
}

// VerifyProgress receives counts as verification goes; it may be nil.
type VerifyProgress func(done, total, bytes int64)

// VerifyResult is what Verify found.
type VerifyResult struct {
	Checked int64
	Bytes   int64
	Damaged []Damage
	Packs   []string // problems with whole data files (missing, too short, holding what the index does not explain)
	Index   []string // problems SQLite's integrity check found in index.db
	Missing []string // places whose message is not stored (its damaged copy was dropped; a backup fetches it again)
	// Unopened counts encrypted messages checked without the identity:
	// hash frame, frame length and age header, not the content.
	Unopened int64
}

// OK reports whether nothing was found wrong.
func (v *VerifyResult) OK() bool {
	return len(v.Damaged) == 0 && len(v.Packs) == 0 && len(v.Index) == 0 && len(v.Missing) == 0
}

// Verify re-reads every stored message (of account, or all if "") and
// checks its size and SHA-256, and that the data files are as long as the
// index says.
func (r *Repo) Verify(ctx context.Context, account string, progress VerifyProgress) (*VerifyResult, error) {
	// The index is checked beside the rest (at a million messages its
	// integrity check takes as long as reading every message), but its
	// verdict comes first: with a damaged page it cannot be trusted to
	// name every message (repair rebuilds it), so then nothing else is
	// reported, and the reading stops.
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type indexResult struct {
		probs []string
		err   error
	}
	index := make(chan indexResult, 1)
	go func() {
		probs, err := r.CheckIndex(vctx)
		if err != nil || len(probs) > 0 {
			cancel()
		}
		index <- indexResult{probs, err}
	}()
	res, err := r.verifyData(vctx, account, progress)
	if ix := <-index; ix.err != nil || len(ix.probs) > 0 {
		if ix.err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res = &VerifyResult{Index: ix.probs}
		if ix.err != nil {
			res.Index = []string{ix.err.Error()}
		}
		return res, nil
	}
	return res, err
}

// verifyData is Verify but for the index's own check.
func (r *Repo) verifyData(ctx context.Context, account string, progress VerifyProgress) (*VerifyResult, error) {
	res := &VerifyResult{}
	// Data files first: one missing or cut short damages everything in
	// it; one that holds more than the index says is explained by nothing.
	pc, err := r.checkPacks(ctx, false)
	if err != nil {
		return nil, err
	}
	// (Bytes past the committed end that an interrupted run left are not
	// damage: the next writer indexes them again.)
	res.Packs = append(pc.missing, pc.problems...)
	q := `SELECT hash, pack, offset, length, size FROM blobs WHERE pack<>0`
	var args []any
	if account != "" {
		q += ` AND id IN (SELECT m.blob FROM messages m JOIN folders f ON f.id=m.folder JOIN accounts a ON a.id=f.account WHERE a.name=?)`
		args = append(args, account)
	}
	tally := &verifyTally{res: res, progress: progress}
	if err := r.verifyRows(ctx, q, args, tally); err != nil {
		return res, err
	}
	// The places whose message is not stored (a probe per place by blob
	// id, in the order of both: 0.2 s at a million).
	if res.Missing, err = r.missingPlaces(ctx, account); err != nil {
		return nil, err
	}
	if progress != nil {
		progress(res.Checked, tally.total, res.Bytes)
	}
	res.Unopened = r.unopened.Swap(0)
	for i := range res.Damaged {
		res.Damaged[i].Places, _ = r.places(ctx, res.Damaged[i].Hash)
	}
	return res, nil
}

// verifyRows counts the blobs q selects, then checks them in id order:
// blob ids follow the order messages were appended in, close to pack and
// offset order (sequential reads), without a sort.
func (r *Repo) verifyRows(ctx context.Context, q string, args []any, tally *verifyTally) error {
	if err := r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`)`, args...).Scan(&tally.total); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	rows, err := r.rdb.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var hash sql.RawBytes // copied out before the next row
	next := func(b *verifyBlob) (bool, error) {
		if !rows.Next() {
			return false, rows.Err()
		}
		if err := rows.Scan(&hash, &b.pack, &b.offset, &b.length, &b.size); err != nil {
			return false, fmt.Errorf("index: %w", err)
		}
		copy(b.hash[:], hash)
		return true, nil
	}
	return r.verifyBlobs(ctx, next, tally)
}

// VerifyMessage re-reads one stored message and checks it: what cleanup
// and POP3 deletion require before anything leaves a server.
func (r *Repo) VerifyMessage(ctx context.Context, h Hash) error {
	b, err := r.blob(ctx, h)
	if err != nil {
		return err
	}
	if err := r.checkBlob(b); err != nil {
		return Damage{Hash: h, Pack: r.PackPath(b.Pack), Offset: b.Offset, Err: err}
	}
	return nil
}

func (r *Repo) checkBlob(b Blob) error {
	f, err := r.packFile(b.Pack)
	if err != nil {
		return err
	}
	var hdr [skipLen]byte
	if b.Offset < skipLen {
		return fmt.Errorf("bad offset")
	}
	if _, err := f.ReadAt(hdr[:], b.Offset-skipLen); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if binary.LittleEndian.Uint32(hdr[0:]) != skipMagic || binary.LittleEndian.Uint32(hdr[4:]) != 32 || Hash(hdr[8:]) != b.Hash {
		return fmt.Errorf("frame header does not name this message")
	}
	if sealed, err := r.checkSealedOnly(f, b); sealed {
		return err // encrypted, no identity: the frame is checked, not the content (seal.go)
	}
	rc, err := r.openBlobStream(b, f)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	if n != b.Size {
		return fmt.Errorf("size %d, index says %d", n, b.Size)
	}
	if Hash(h.Sum(nil)) != b.Hash {
		return fmt.Errorf("content hash mismatch")
	}
	return nil
}

func (r *Repo) openBlobStream(b Blob, f *os.File) (io.ReadCloser, error) {
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

// missingPlaces names the places (of account, or all) whose message is
// not stored.
func (r *Repo) missingPlaces(ctx context.Context, account string) ([]string, error) {
	q := `SELECT a.name, f.name, m.uidvalidity, m.uid, m.uidl FROM messages m
		JOIN folders f ON f.id=m.folder JOIN accounts a ON a.id=f.account
		LEFT JOIN blobs b ON b.id=m.blob WHERE coalesce(b.pack,0)=0`
	var args []any
	if account != "" {
		q += ` AND a.name=?`
		args = append(args, account)
	}
	rows, err := r.rdb.QueryContext(ctx, q+` ORDER BY a.name, f.name, m.uid`, args...)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var acct, folder, uidl string
		var uv, uid uint32
		if err := rows.Scan(&acct, &folder, &uv, &uid, &uidl); err != nil {
			return out, err
		}
		out = append(out, placeName(acct, folder, uv, uid, uidl))
	}
	return out, rows.Err()
}

// places names every place that held message h, for damage reports.
func (r *Repo) places(ctx context.Context, h Hash) ([]string, error) {
	rows, err := r.rdb.QueryContext(ctx, `SELECT a.name, f.name, m.uidvalidity, m.uid, m.uidl FROM messages m
		JOIN folders f ON f.id=m.folder JOIN accounts a ON a.id=f.account JOIN blobs b ON b.id=m.blob
		WHERE substr(b.hash,1,8)=substr(?1,1,8) AND b.hash=?1 ORDER BY a.name, f.name, m.uid`, h[:])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var acct, folder, uidl string
		var uv, uid uint32
		if err := rows.Scan(&acct, &folder, &uv, &uid, &uidl); err != nil {
			return out, err
		}
		if uidl != "" {
			out = append(out, fmt.Sprintf("%s/%s uidl %s", acct, folder, uidl))
		} else {
			out = append(out, fmt.Sprintf("%s/%s uidvalidity %d uid %d", acct, folder, uv, uid))
		}
	}
	return out, rows.Err()
}
