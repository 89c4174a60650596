package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/internal/offsite"
)

// verifyOffsite is 'verify --offsite': every object the newest remote
// manifest names exists with the right size and checksum. It needs no
// identity.
func (g *globals) verifyOffsite(ctx context.Context, deep bool) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	st, err := offsiteStore(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := offsite.VerifyRemote(ctx, st, deep)
	if err != nil {
		return offsiteErr(err)
	}
	for _, p := range res.Problems {
		if g.json {
			writeJSON(g.stdout, map[string]any{"event": "damaged-object", "error": p})
		} else {
			fmt.Fprintf(g.stderr, "mailkeep: error: off-site: %s\n", p)
		}
	}
	if g.json {
		writeJSON(g.stdout, map[string]any{"event": "summary", "store": st.String(), "manifest": res.Seq, "objects": res.Objects,
			"bytes": res.Bytes, "damaged": len(res.Problems), "ok": res.OK(), "seconds": time.Since(start).Seconds()})
	} else {
		how := "size and MD5"
		if deep {
			how = "size and SHA-256 of the downloaded bytes"
		}
		fmt.Fprintf(g.stdout, "verified off-site manifest %d at %s: %d objects, %s (%s) in %.1fs: ", res.Seq, st, res.Objects,
			humanBytes(res.Bytes), how, time.Since(start).Seconds())
		if res.OK() {
			fmt.Fprintln(g.stdout, "all present and intact")
		} else {
			fmt.Fprintf(g.stdout, "%d objects missing or damaged\n", len(res.Problems))
		}
	}
	if !res.OK() {
		return &exitError{code: exitFailed, err: fmt.Errorf("off-site copy %s is damaged: %d of %d objects", st, len(res.Problems), res.Objects),
			hint: "run 'mailkeep push' from an intact archive into a new offsite.s3.prefix"}
	}
	return nil
}
