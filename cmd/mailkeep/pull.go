package main

import (
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/internal/offsite"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newPullCmd) }

func newPullCmd(g *globals) *cobra.Command {
	var into string
	var indexOnly bool
	cmd := &cobra.Command{
		Use:   "pull --into DIR",
		Short: "Rebuild an archive from the off-site copy (S3)",
		Long: `Downloads the newest complete off-site copy (offsite.s3 in the config) into
DIR, which must be empty or absent: the index and every pack, each checked
against its SHA-256. With --index-only, only the index: enough for a fresh
worker to back up incrementally (nothing it already has is fetched again)
and push its new packs, not to read old messages. An encrypted copy needs
encryption.identity_file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if into == "" {
				return usageErr("pull needs --into DIR")
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			st, err := offsiteStore(cfg)
			if err != nil {
				return err
			}
			keys, err := offsiteKeys(cfg)
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := offsite.Pull(cmd.Context(), st, into, &offsite.PullOptions{IndexOnly: indexOnly, Keys: keys})
			if err != nil {
				return offsiteErr(err)
			}
			secs := time.Since(start).Seconds()
			if g.json {
				writeJSON(g.stdout, map[string]any{"event": "pulled", "store": st.String(), "manifest": res.Seq, "into": into,
					"packs": res.Packs, "bytes": res.Bytes, "index_only": indexOnly, "seconds": secs})
				return nil
			}
			what := fmt.Sprintf("%d packs", res.Packs)
			if indexOnly {
				what = "the index only"
			}
			fmt.Fprintf(g.stdout, "pulled manifest %d from %s into %s: %s, %s in %.1fs\n", res.Seq, st, into, what, humanBytes(res.Bytes), secs)
			return nil
		},
	}
	cmd.Flags().StringVar(&into, "into", "", "directory to rebuild the archive in (empty or absent)")
	cmd.Flags().BoolVar(&indexOnly, "index-only", false, "fetch only the index: for a worker that backs up and pushes")
	return cmd
}
