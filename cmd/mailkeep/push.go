package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/offsite"
	"github.com/spf13/cobra"
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
snapshot is encrypted to the recipients (messages already are).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if archiveDir != "" {
				cfg.Archive = archiveDir
			}
			res, err := pushArchive(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			g.reportPush(res)
			return nil
		},
	}
	cmd.Flags().StringVar(&archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	return cmd
}

// offsiteStore opens the store the config names.
func offsiteStore(cfg *config.Config) (*offsite.S3Store, error) {
	if cfg.Offsite == nil || cfg.Offsite.S3 == nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s has no offsite: {s3: {...}} section", cfg.Path),
			hint: "see 'Off-site and encrypted' in the README"}
	}
	st, err := offsite.NewS3(cfg.Offsite.S3)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return st, nil
}

func offsiteKeys(cfg *config.Config) (*offsite.Keys, error) {
	k, err := offsite.LoadKeys(cfg.Encryption)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return k, nil
}

// pushResult is what push reports, also for jobs.
type pushResult struct {
	Store string
	*offsite.PushResult
}

// pushArchive is the typed push operation: the push command and jobs with
// push: true both call it.
func pushArchive(ctx context.Context, cfg *config.Config) (*pushResult, error) {
	st, err := offsiteStore(cfg)
	if err != nil {
		return nil, err
	}
	keys, err := offsiteKeys(cfg)
	if err != nil {
		return nil, err
	}
	res, err := offsite.Push(ctx, cfg.Archive, st, &offsite.PushOptions{Keys: keys})
	if err != nil {
		return nil, offsiteErr(err)
	}
	return &pushResult{Store: st.String(), PushResult: res}, nil
}

func (g *globals) reportPush(r *pushResult) {
	rate := float64(r.Bytes) / max(r.Duration.Seconds(), 1e-3)
	if g.json {
		writeJSON(g.stdout, map[string]any{"event": "pushed", "store": r.Store, "manifest": r.Seq, "objects": r.Objects,
			"bytes": r.Bytes, "pack_bytes": r.PackBytes, "index_bytes": r.IndexBytes, "reused": r.Reused,
			"seconds": r.Duration.Seconds(), "bytes_per_second": rate})
		return
	}
	fmt.Fprintf(g.stdout, "pushed manifest %d to %s: %d objects, %s (%s packs, %s index) in %.1fs, %s/s\n",
		r.Seq, r.Store, r.Objects, humanBytes(r.Bytes), humanBytes(r.PackBytes), humanBytes(r.IndexBytes),
		r.Duration.Seconds(), humanBytes(int64(rate)))
}

// offsiteErr maps an off-site failure to an exit code: a wrong key or
// bucket is a configuration problem; anything else failed and may be
// retried.
func offsiteErr(err error) error {
	var pe *offsite.Error
	if errors.As(err, &pe) && pe.Permanent {
		return &exitError{code: exitFailed, err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{code: exitInterrupted, err: errors.New("interrupted; the off-site copy is as the last complete push left it, and the next push resumes")}
	}
	return &exitError{code: exitFailed, err: err, hint: "run it again: what was sent is kept and the push resumes"}
}
