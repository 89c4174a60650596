package offsite

import (
	"context"
	"strings"
)

// collect deletes the objects under data/, index/ and manifest/ that
// none of keep names. It runs after a manifest is written, never before:
// at every moment the newest manifest's objects all exist.
func collect(ctx context.Context, st Store, keep ...*Manifest) (int64, error) {
	named := map[string]bool{}
	for _, m := range keep {
		if m == nil {
			continue
		}
		named[manifestKey(m.Seq)] = true
		for _, o := range m.Objects() {
			named[o.Key] = true
		}
	}
	var n int64
	for _, dir := range []string{dataDir, indexDir, manifestDir} {
		objs, err := st.List(ctx, dir)
		if err != nil {
			return n, err
		}
		for _, o := range objs {
			if named[o.Key] || !strings.HasPrefix(o.Key, dir) {
				continue
			}
			if err := st.Delete(ctx, o.Key); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
