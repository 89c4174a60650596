package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailkeep/mailkeep/archive"
)

// ErrNoCopy is wrapped by Pull's error when the store holds no copy.
var ErrNoCopy = errors.New("nothing pushed there yet")

// PullOptions control a pull. Nil means a full pull of an unencrypted copy.
type PullOptions struct {
	// IndexOnly fetches the index and no pack: enough for a writer to
	// back up incrementally (dedup and checkpoints are in the index) and
	// push its new packs, not to read old messages.
	IndexOnly bool
	Keys      *Keys // Identities decrypt an encrypted index
	Progress  Progress
}

// PullResult says what a pull fetched.
type PullResult struct {
	Seq   int64
	Packs int
	Bytes int64
}

// Pull rebuilds the archive in dir (which must be empty or absent) from
// the newest manifest in st. Every object is checked against its SHA-256
// on the way; the archive's marker is written last, so an interrupted pull
// leaves no archive behind and can be run again.
func Pull(ctx context.Context, st Store, dir string, opts *PullOptions) (*PullResult, error) {
	if opts == nil {
		opts = &PullOptions{}
	}
	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	m, err := Latest(ctx, st)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &Error{Permanent: true, Err: fmt.Errorf("%s holds no off-site copy (no manifest): push one first, or check offsite.s3.prefix: %w", st, ErrNoCopy)}
	}
	// The index first: without the identity an encrypted copy fails
	// before anything is downloaded.
	if m.Encrypted && (opts.Keys == nil || len(opts.Keys.Identities) == 0) {
		_, err := openIndex(nil, true, opts.Keys)
		return nil, &Error{Permanent: true, Err: err}
	}
	tmp := filepath.Join(dir, ".offsite-tmp")
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	res := &PullResult{Seq: m.Seq}
	idx := filepath.Join(tmp, "index.db")
	if err := fetchIndex(ctx, st, m, idx, opts.Keys, res); err != nil {
		return nil, err
	}
	if err := samePacks(ctx, idx, m); err != nil {
		return nil, fmt.Errorf("%s: %w", st, err)
	}
	if !opts.IndexOnly {
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			return nil, err
		}
		for i := range m.Packs {
			if err := fetchPack(ctx, st, &m.Packs[i], filepath.Join(dir, "data"), res, opts.Progress); err != nil {
				return nil, err
			}
			res.Packs++
		}
	}
	// The state before the marker: an archive is never without it.
	stt := &state{Writer: newWriterID(), Stores: map[string]int64{st.String(): m.Seq}}
	if err := writeState(dir, stt); err != nil {
		return nil, err
	}
	if err := archive.InstallIndex(ctx, dir, idx, opts.IndexOnly); err != nil {
		return nil, err
	}
	os.RemoveAll(tmp)
	return res, nil
}

// samePacks checks that the index names exactly the packs the manifest
// holds, with the same sizes: a copy is complete only then.
func samePacks(ctx context.Context, idx string, m *Manifest) error {
	ip, err := archive.IndexPacks(ctx, idx)
	if err != nil {
		return err
	}
	if len(ip) != len(m.Packs) {
		return fmt.Errorf("manifest %d holds %d packs, its index names %d", m.Seq, len(m.Packs), len(ip))
	}
	for i, p := range ip {
		q := m.Packs[i]
		if p.ID != q.ID || p.Name != q.Name || p.Size != q.Size {
			return fmt.Errorf("manifest %d: pack %s of %d bytes, its index says %s of %d", m.Seq, q.Name, q.Size, p.Name, p.Size)
		}
	}
	return nil
}

// emptyDir accepts a missing or empty directory, or the remains of an
// interrupted pull (no marker yet; only what a pull writes).
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		switch n := e.Name(); {
		case n == ".offsite-tmp", n == "data" && e.IsDir(), n == stateFile:
		default:
			return &Error{Permanent: true, Err: fmt.Errorf("%s is not empty (it holds %s): pull into a new directory", dir, n)}
		}
	}
	return nil
}

func fetchIndex(ctx context.Context, st Store, m *Manifest, path string, k *Keys, res *PullResult) error {
	enc := path + ".down"
	if err := fetchObject(ctx, st, m.Index, enc, 0, res); err != nil {
		return err
	}
	defer os.Remove(enc)
	f, err := os.Open(enc)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := openIndex(f, m.Encrypted, k)
	if err != nil {
		return &Error{Permanent: true, Err: err}
	}
	defer r.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("%s: index %s: %w", st, m.Index.Key, err)
	}
	return out.Close()
}

// fetchPack assembles one pack from its pieces under a temporary name.
func fetchPack(ctx context.Context, st Store, p *Pack, dataDir string, res *PullResult, progress Progress) error {
	final := filepath.Join(dataDir, p.Name)
	if fi, err := os.Stat(final); err == nil && fi.Size() == p.Size {
		return nil // an interrupted pull got this one (each piece was checked)
	}
	part := filepath.Join(dataDir, "."+p.Name+".part")
	os.Remove(part)
	for _, pc := range p.Pieces {
		if err := fetchObject(ctx, st, pc, part, pc.Offset, res); err != nil {
			return fmt.Errorf("pack %s: %w", p.Name, err)
		}
		if progress != nil {
			progress.Uploaded(pc.Key, pc.Length)
		}
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	return os.Rename(part, final)
}

// fetchObject writes object pc at offset off of the file at path,
// checking its length and SHA-256.
func fetchObject(ctx context.Context, st Store, pc Piece, path string, off int64, res *PullResult) error {
	rc, err := st.Get(ctx, pc.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(io.NewOffsetWriter(f, off), h), io.LimitReader(rc, pc.Length+1))
	if err != nil {
		return fmt.Errorf("%s: get %s: %w", st, pc.Key, err)
	}
	if n != pc.Length || !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), pc.SHA256) {
		return fmt.Errorf("%s: %s is damaged: %d bytes with SHA-256 %x, the manifest says %d bytes, %s", st, pc.Key, n, h.Sum(nil), pc.Length, pc.SHA256)
	}
	res.Bytes += n
	return nil
}
