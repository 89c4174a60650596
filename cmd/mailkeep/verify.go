package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newVerifyCmd) }

func newVerifyCmd(g *globals) *cobra.Command {
	var archiveDir string
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
			dir, err := g.xferArchiveDir(archiveDir)
			if err != nil {
				return err
			}
			repo, err := openArchiveRO(cmd.Context(), dir)
			if err != nil {
				return err
			}
			defer repo.Close()
			acct := ""
			if len(args) == 1 {
				acct = args[0]
				if _, err := repo.LookupAccount(cmd.Context(), acct); err != nil {
					return &exitError{code: exitFailed, err: err}
				}
			}
			start := time.Now()
			u := newUI(g, "verified")
			var last time.Time
			res, err := repo.Verify(cmd.Context(), acct, func(done, total, bytes int64) {
				if u.tty && time.Since(last) > 200*time.Millisecond {
					last = time.Now()
					fmt.Fprintf(g.stderr, "\rverify: %d/%d messages, %s", done, total, humanBytes(bytes))
				}
			})
			if u.tty {
				fmt.Fprint(g.stderr, "\r\033[K")
			}
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			for _, p := range res.Packs {
				if g.json {
					writeJSON(g.stdout, map[string]any{"event": "damaged-file", "error": p})
				} else {
					fmt.Fprintf(g.stderr, "mailkeep: error: data file: %s\n", p)
				}
			}
			for _, d := range res.Damaged {
				if g.json {
					writeJSON(g.stdout, map[string]any{"event": "damaged", "file": d.Pack, "offset": d.Offset,
						"sha256": d.Hash.String(), "error": d.Err.Error(), "places": d.Places})
					continue
				}
				fmt.Fprintf(g.stderr, "mailkeep: error: damaged: %s offset %d: %v; held by %v\n", d.Pack, d.Offset, d.Err, d.Places)
			}
			if g.json {
				writeJSON(g.stdout, map[string]any{"event": "summary", "checked": res.Checked, "bytes": res.Bytes,
					"damaged": len(res.Damaged), "damaged_files": len(res.Packs), "ok": res.OK(), "seconds": time.Since(start).Seconds()})
			} else {
				fmt.Fprintf(g.stdout, "verified %d messages, %s in %.1fs: ", res.Checked, humanBytes(res.Bytes), time.Since(start).Seconds())
				if res.OK() {
					fmt.Fprintln(g.stdout, "all intact")
				} else {
					fmt.Fprintf(g.stdout, "%d damaged messages, %d damaged data files\n", len(res.Damaged), len(res.Packs))
				}
			}
			if !res.OK() {
				return &exitError{code: exitFailed, err: fmt.Errorf("archive %s is damaged: %d messages, %d data files", dir, len(res.Damaged), len(res.Packs)),
					hint: "copy the named data files back from another copy of the archive, or keep this archive and start a new one for new backups"}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	return cmd
}
