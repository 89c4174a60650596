package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
)

func init() { subcommands = append(subcommands, newVerifyCmd) }

func newVerifyCmd(g *globals) *cobra.Command {
	var archiveDir string
	var remote, deep bool
	cmd := &cobra.Command{
		Use:   "verify [ACCOUNT]",
		Short: "Re-read every archived message and check its hash",
		Long: `Reads every stored message (of ACCOUNT, or all), decompresses it and checks
its size and SHA-256 against the index, and that every data file is as long
as the index says. Damage is named exactly: data file, offset, and every
account, folder and UID that held the message. Exit code 1 if anything is
damaged.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if remote {
				return g.verifyOffsite(cmd.Context(), deep) // verify_offsite.go
			}
			dir, err := g.xferArchiveDir(archiveDir)
			if err != nil {
				return err
			}
			acct := ""
			if len(args) == 1 {
				acct = args[0]
			}
			u := newUI(g, "verified")
			o := ops.Verify(cmd.Context(), g.env(g.xferConfig(), u), ops.VerifyOptions{Archive: dir, Account: acct,
				Progress: u.verifyBar(acct)})
			u.verifyBarDone(acct)
			if res := o.Verify; res != nil {
				g.printVerify(res, o.Finished.Sub(o.Started))
			}
			return done(o)
		},
	}
	cmd.Flags().StringVar(&archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	cmd.Flags().BoolVar(&remote, "offsite", false, "check the off-site copy instead: every object its manifest names, size and checksum")
	cmd.Flags().BoolVar(&deep, "deep", false, "with --offsite: download every object and check its SHA-256")
	return cmd
}

// verifyBar draws verify's progress as a bar on a terminal (bars.go):
// messages checked of all, bytes, rate and ETA. Elsewhere it is nil.
func (u *ui) verifyBar(acct string) archive.VerifyProgress {
	if u.bars == nil {
		return nil
	}
	name := verifyBarName(acct)
	return func(done, total, bytes int64) {
		u.mu.Lock()
		defer u.mu.Unlock()
		a := u.bars.acct(name)
		a.done, a.total, a.bytes = done, total, bytes
		u.bars.draw(false)
	}
}

// verifyBarDone takes the bar away.
func (u *ui) verifyBarDone(acct string) {
	if u.bars == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bars.accountDone(verifyBarName(acct))
}

func verifyBarName(acct string) string {
	if acct == "" {
		return "verify"
	}
	return acct
}

func (g *globals) printVerify(res *archive.VerifyResult, took time.Duration) {
	for _, p := range res.Index {
		if g.json {
			writeJSON(g.stdout, map[string]any{"event": "damaged-index", "error": p})
		} else {
			g.errorf("index.db: %s", p)
		}
	}
	for _, p := range res.Missing {
		if g.json {
			writeJSON(g.stdout, map[string]any{"event": "missing", "place": p})
		} else {
			g.errorf("missing: %s (its stored copy was lost; the next backup fetches it again if the server has it)", p)
		}
	}
	for _, p := range res.Packs {
		if g.json {
			writeJSON(g.stdout, map[string]any{"event": "damaged-file", "error": p})
		} else {
			g.errorf("data file: %s", p)
		}
	}
	for _, d := range res.Damaged {
		if g.json {
			writeJSON(g.stdout, map[string]any{"event": "damaged", "file": d.Pack, "offset": d.Offset,
				"sha256": d.Hash.String(), "error": d.Err.Error(), "places": d.Places})
			continue
		}
		g.errorf("damaged: %s offset %d: %v; held by %v", d.Pack, d.Offset, d.Err, d.Places)
	}
	if g.json {
		writeJSON(g.stdout, map[string]any{"event": "summary", "checked": res.Checked, "bytes": res.Bytes,
			"damaged": len(res.Damaged), "damaged_files": len(res.Packs), "damaged_index": len(res.Index), "missing": len(res.Missing),
			"not_decrypted": res.Unopened, "ok": res.OK(), "seconds": took.Seconds()})
		return
	}
	fmt.Fprintf(g.stdout, "verified %d messages, %s in %.1fs: ", res.Checked, humanBytes(res.Bytes), took.Seconds())
	if res.Unopened > 0 {
		fmt.Fprintf(g.stdout, "%d encrypted and not decrypted (no identity: frames and age headers checked, not the content); ", res.Unopened)
	}
	if res.OK() {
		fmt.Fprintln(g.stdout, "all intact")
	} else {
		switch {
		case len(res.Index) > 0:
			fmt.Fprintf(g.stdout, "the index is damaged (%d problems)\n", len(res.Index))
		case len(res.Missing) > 0:
			fmt.Fprintf(g.stdout, "%d damaged messages, %d damaged data files, %d places missing\n", len(res.Damaged), len(res.Packs), len(res.Missing))
		default:
			fmt.Fprintf(g.stdout, "%d damaged messages, %d damaged data files\n", len(res.Damaged), len(res.Packs))
		}
	}
}
