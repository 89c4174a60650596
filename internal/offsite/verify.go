package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// VerifyResult is what VerifyRemote found.
type VerifyResult struct {
	Seq      int64
	Objects  int
	Bytes    int64
	Problems []string // one line each: the object and what is wrong
}

// OK reports whether nothing was found wrong.
func (v *VerifyResult) OK() bool { return len(v.Problems) == 0 }

// VerifyRemote checks that every object the newest manifest names exists
// with the right size and checksum: the MD5 the server keeps as the ETag
// of a single-part upload, or, with deep (or when the server's ETag is not
// an MD5), the SHA-256 of the downloaded bytes. It needs no identity:
// objects are checked as stored.
func VerifyRemote(ctx context.Context, st Store, deep bool) (*VerifyResult, error) {
	m, err := Latest(ctx, st)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &Error{Permanent: true, Err: fmt.Errorf("%s holds no off-site copy (no manifest)", st)}
	}
	have := map[string]Object{}
	for _, dir := range []string{dataDir, indexDir} {
		objs, err := st.List(ctx, dir)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			have[o.Key] = o
		}
	}
	res := &VerifyResult{Seq: m.Seq}
	where := func(pc Piece) string {
		if pc.Key == m.Index.Key {
			return "index " + pc.Key
		}
		for _, p := range m.Packs {
			for _, x := range p.Pieces {
				if x.Key == pc.Key {
					return fmt.Sprintf("pack %s bytes %d-%d (%s)", p.Name, x.Offset, x.Offset+x.Length, x.Key)
				}
			}
		}
		return pc.Key
	}
	for _, pc := range m.Objects() {
		res.Objects++
		o, ok := have[pc.Key]
		switch {
		case !ok:
			res.Problems = append(res.Problems, fmt.Sprintf("%s: missing", where(pc)))
			continue
		case o.Size != pc.Length:
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d bytes, want %d", where(pc), o.Size, pc.Length))
			continue
		}
		res.Bytes += o.Size
		if !deep && plainETag(o.ETag) {
			if !strings.EqualFold(o.ETag, pc.MD5) {
				res.Problems = append(res.Problems, fmt.Sprintf("%s: MD5 %s, want %s", where(pc), o.ETag, pc.MD5))
			}
			continue
		}
		if err := checkSHA(ctx, st, pc); err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %v", where(pc), err))
		}
	}
	return res, nil
}

func checkSHA(ctx context.Context, st Store, pc Piece) error {
	rc, err := st.Get(ctx, pc.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != pc.SHA256 {
		return fmt.Errorf("SHA-256 %s, want %s", got, pc.SHA256)
	}
	return nil
}
