package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
)

func init() { subcommands = append(subcommands, newPushCmd) }

func newPushCmd(g *globals) *cobra.Command {
	var archiveDir string
	cmd := &cobra.Command{
		Use:   "push",
		Short: "Send what is new in the archive to the off-site copy (S3)",
		Long: `Sends the archive's new pack bytes, then a snapshot of its index, then a
manifest naming them, to offsite.s3 in the config. Nothing already there is
sent again; an interrupted push leaves the off-site copy as the last complete
push made it, and the next push resumes. With encryption on, the index
snapshot is encrypted to the recipients (messages already are). A push may
run beside a backup: it sends only what is committed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			o := ops.Push(cmd.Context(), g.env(cfg, nil), ops.PushOptions{Archive: archiveDir})
			if r := o.Offsite; r != nil && r.Push != nil && o.Err == nil {
				g.printPush(r)
			}
			return done(o)
		},
	}
	cmd.Flags().StringVar(&archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	return cmd
}

func (g *globals) printPush(r *ops.OffsiteResult) {
	p := r.Push
	rate := float64(p.Bytes) / max(p.Duration.Seconds(), 1e-3)
	if g.json {
		writeJSON(g.stdout, map[string]any{"event": "pushed", "store": r.Store, "manifest": p.Seq, "objects": p.Objects,
			"bytes": p.Bytes, "pack_bytes": p.PackBytes, "index_bytes": p.IndexBytes, "reused": p.Reused,
			"seconds": p.Duration.Seconds(), "bytes_per_second": rate})
		return
	}
	fmt.Fprintf(g.stdout, "pushed manifest %d to %s: %d objects, %s (%s packs, %s index) in %.1fs, %s/s\n",
		p.Seq, r.Store, p.Objects, humanBytes(p.Bytes), humanBytes(p.PackBytes), humanBytes(p.IndexBytes),
		p.Duration.Seconds(), humanBytes(int64(rate)))
}
