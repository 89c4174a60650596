package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
)

func init() { subcommands = append(subcommands, newPullCmd) }

func newPullCmd(g *globals) *cobra.Command {
	var o ops.PullOptions
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
			if o.Into == "" {
				return usageErr("pull needs --into DIR")
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			out := ops.Pull(cmd.Context(), g.env(cfg, nil), o)
			if r := out.Offsite; r != nil && r.Pull == nil && out.Err == nil {
				if g.json {
					writeJSON(g.stdout, map[string]any{"event": "pulled", "store": r.Store, "nothing": true})
				} else {
					fmt.Fprintf(g.stdout, "nothing to pull: %s holds no off-site copy yet\n", r.Store)
				}
			}
			if r := out.Offsite; r != nil && r.Pull != nil && out.Err == nil {
				secs := out.Finished.Sub(out.Started).Seconds()
				if g.json {
					writeJSON(g.stdout, map[string]any{"event": "pulled", "store": r.Store, "manifest": r.Pull.Seq, "into": o.Into,
						"packs": r.Pull.Packs, "bytes": r.Pull.Bytes, "index_only": o.IndexOnly, "seconds": secs})
				} else {
					what := fmt.Sprintf("%d packs", r.Pull.Packs)
					if o.IndexOnly {
						what = "the index only"
					}
					fmt.Fprintf(g.stdout, "pulled manifest %d from %s into %s: %s, %s in %.1fs\n", r.Pull.Seq, r.Store, o.Into, what, humanBytes(r.Pull.Bytes), secs)
				}
			}
			return done(out)
		},
	}
	cmd.Flags().StringVar(&o.Into, "into", "", "directory to rebuild the archive in (empty or absent)")
	cmd.Flags().BoolVar(&o.IndexOnly, "index-only", false, "fetch only the index: for a worker that backs up and pushes")
	cmd.Flags().BoolVar(&o.MissingOK, "missing-ok", false, "succeed, pulling nothing, when nothing was pushed there yet (a worker's first run)")
	return cmd
}
