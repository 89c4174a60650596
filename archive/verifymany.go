package archive

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
)

// VerifyMessages is VerifyMessage for many messages at once: each one is
// re-read from its data file now, decompressed and hashed, in parallel,
// with one index query per few hundred messages instead of one each. The
// result holds an error (a Damage, or "not stored") for every hash that
// does not check out, and nothing for those that do.
func (r *Repo) VerifyMessages(ctx context.Context, hashes []Hash) (map[Hash]error, error) {
	bad := map[Hash]error{}
	blobs := make([]Blob, 0, len(hashes))
	var lookup []Hash
	r.mu.Lock()
	for _, h := range hashes {
		if b, ok := r.pending[h]; ok && b.Pack != 0 {
			blobs = append(blobs, b)
		} else {
			lookup = append(lookup, h)
		}
	}
	r.mu.Unlock()
	found := make(map[Hash]bool, len(lookup))
	const chunk = 400
	for start := 0; start < len(lookup); start += chunk {
		part := lookup[start:min(start+chunk, len(lookup))]
		args := make([]any, len(part))
		want := make(map[Hash]bool, len(part))
		for i, h := range part {
			args[i] = h[:8]
			want[h] = true
		}
		// By the hash's first 8 bytes (the index blobs_hash), then the whole hash.
		q := `SELECT hash, pack, offset, length, size FROM blobs WHERE pack<>0 AND substr(hash,1,8) IN (?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := r.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		for rows.Next() {
			var b Blob
			var hash []byte
			if err := rows.Scan(&hash, &b.Pack, &b.Offset, &b.Length, &b.Size); err != nil {
				rows.Close()
				return nil, fmt.Errorf("index: %w", err)
			}
			copy(b.Hash[:], hash)
			if !want[b.Hash] || found[b.Hash] {
				continue
			}
			found[b.Hash] = true
			blobs = append(blobs, b)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
	}
	for _, h := range lookup {
		if !found[h] {
			bad[h] = fmt.Errorf("message %s: %w", h, os.ErrNotExist)
		}
	}

	var mu sync.Mutex
	work := make(chan Blob)
	var wg sync.WaitGroup
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if err := r.checkBlob(b); err != nil {
					mu.Lock()
					bad[b.Hash] = Damage{Hash: b.Hash, Pack: r.PackPath(b.Pack), Offset: b.Offset, Err: err}
					mu.Unlock()
				}
			}
		}()
	}
	var err error
	for _, b := range blobs {
		select {
		case work <- b:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		}
		break
	}
	close(work)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return bad, nil
}
