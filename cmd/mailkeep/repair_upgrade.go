package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// repairUpgrade is 'repair --upgrade': the format upgrade alone.
func (g *globals) repairUpgrade(ctx context.Context, archiveDir string) error {
	dir, err := g.xferArchiveDir(archiveDir)
	if err != nil {
		return err
	}
	var report progress.Reporter
	if !g.quiet && !g.json {
		// What a long upgrade is doing, on standard error.
		report = progress.Func(func(e progress.Event) {
			if e.Kind == progress.Warning {
				g.warningf("%s", e.Text)
			} else if e.Kind == progress.Info && strings.HasPrefix(e.Text, "upgrade: ") {
				fmt.Fprintf(g.stderr, "mailkeep: %s\n", safeLine(e.Text))
			}
		})
	}
	res, err := archive.Upgrade(ctx, dir, &archive.Options{LockWait: 2 * time.Second, Report: report})
	if err != nil {
		ee := &exitError{code: exitFailed, err: fmt.Errorf("repair --upgrade %s: %w", dir, err)}
		var le *archive.LockedError
		if errors.As(err, &le) {
			ee.hint = "another mailkeep is writing this archive; wait for it to finish"
		}
		return ee
	}
	if g.json {
		writeJSON(g.stdout, map[string]any{"event": "upgraded", "archive": dir, "from": res.From, "to": res.To, "messages": res.Messages,
			"blobs": res.Blobs, "missing": res.Missing, "index_bytes_before": res.BytesBefore, "index_bytes_after": res.BytesAfter, "seconds": res.Took.Seconds()})
		return nil
	}
	if res.From == res.To {
		fmt.Fprintf(g.stdout, "%s is format version %d already: nothing to upgrade\n", safeLine(dir), res.To)
		return nil
	}
	fmt.Fprintf(g.stdout, "upgraded %s from format version %d to %d: %d message places, %d stored messages in %.1fs; index.db %.1f -> %.1f MiB\n",
		safeLine(dir), res.From, res.To, res.Messages, res.Blobs, res.Took.Seconds(), float64(res.BytesBefore)/(1<<20), float64(res.BytesAfter)/(1<<20))
	return nil
}
