package main

import (
	"context"
	"fmt"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
)

// verifyOffsite is 'verify --offsite': every object the newest remote
// manifest names exists with the right size and checksum. It needs no
// identity.
func (g *globals) verifyOffsite(ctx context.Context, deep bool) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	o := ops.VerifyOffsite(ctx, g.env(cfg, nil), deep)
	if o.Offsite == nil || o.Offsite.Verify == nil {
		return done(o)
	}
	res, took := o.Offsite.Verify, o.Finished.Sub(o.Started)
	for _, p := range res.Problems {
		if g.json {
			writeJSON(g.stdout, map[string]any{"event": "damaged-object", "error": p})
		} else {
			g.errorf("off-site: %s", p)
		}
	}
	if g.json {
		writeJSON(g.stdout, map[string]any{"event": "summary", "store": o.Offsite.Store, "manifest": res.Seq, "objects": res.Objects,
			"bytes": res.Bytes, "damaged": len(res.Problems), "ok": res.OK(), "seconds": took.Seconds()})
		return done(o)
	}
	how := "size and MD5"
	if deep {
		how = "size and SHA-256 of the downloaded bytes"
	}
	fmt.Fprintf(g.stdout, "verified off-site manifest %d at %s: %d objects, %s (%s) in %.1fs: ", res.Seq, o.Offsite.Store, res.Objects,
		humanBytes(res.Bytes), how, took.Seconds())
	if res.OK() {
		fmt.Fprintln(g.stdout, "all present and intact")
	} else {
		fmt.Fprintf(g.stdout, "%d objects missing or damaged\n", len(res.Problems))
	}
	return done(o)
}
