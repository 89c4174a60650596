package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
)

// repairEncrypt is 'repair --encrypt': messages stored before encryption
// was turned on are rewritten encrypted; the data files that held them are
// removed (the next push removes them off-site).
func (g *globals) repairEncrypt(ctx context.Context, archiveDir string) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	u := newUI(g, "encrypted")
	var last time.Time
	o := ops.Encrypt(ctx, g.env(cfg, nil), ops.EncryptOptions{Archive: archiveDir, Progress: func(done, total int64) {
		if u.tty && time.Since(last) > 200*time.Millisecond {
			last = time.Now()
			fmt.Fprintf(g.stderr, "\rrepair --encrypt: %d/%d messages", done, total)
		}
	}})
	if u.tty {
		fmt.Fprint(g.stderr, "\r\033[K")
	}
	if res := o.Reseal; res != nil && o.Err == nil {
		if g.json {
			writeJSON(g.stdout, map[string]any{"event": "encrypted", "messages": res.Messages, "bytes": res.Bytes,
				"removed": res.Removed, "seconds": o.Finished.Sub(o.Started).Seconds()})
		} else if res.Messages == 0 && len(res.Removed) == 0 {
			fmt.Fprintln(g.stdout, "nothing to encrypt: every stored message is encrypted")
		} else {
			fmt.Fprintf(g.stdout, "encrypted %d messages (%s) in %.1fs; removed %d data files that held them unencrypted: %s\n",
				res.Messages, humanBytes(res.Bytes), o.Finished.Sub(o.Started).Seconds(), len(res.Removed), strings.Join(res.Removed, ", "))
			if cfg.Offsite != nil {
				fmt.Fprintln(g.stdout, "run 'mailkeep push': it removes their off-site copies too")
			}
		}
	}
	return done(o)
}
