package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

func init() { subcommands = append(subcommands, newBackupCmd) }

func newBackupCmd(g *globals) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "backup [ACCOUNT...]",
		Short: "Pull new mail from the accounts into the archive",
		Long: `Backs up the named accounts (all by default) into the archive: every folder
chosen by the account's folders filter, byte-exact, with flags and dates.
Only what is new since the last run is fetched; flag changes are recorded
and messages gone from the server are marked gone (never removed from the
archive). Accounts run concurrently (concurrency: in the config).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			o := ops.Backup(cmd.Context(), g.env(cfg, newUI(g, "backed up")), ops.BackupOptions{Accounts: args, DryRun: dryRun})
			g.printBackupSummary(o.Backups)
			return done(o)
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "show what would be fetched; write nothing")
	return cmd
}

func (g *globals) printBackupSummary(results []*backup.Result) {
	if g.json {
		// One record per account, then the overall summary.
		total := map[string]any{"type": "summary", "accounts": len(results)}
		ok := true
		var sum [7]int64
		for _, r := range results {
			ok = ok && r.OK()
			for i, n := range []int64{r.New, r.Seen, r.Bytes, r.Flags, r.Gone, r.Deleted, int64(len(r.Errors))} {
				sum[i] += n
			}
		}
		for i, k := range []string{"new", "seen", "bytes", "flags", "gone", "deleted", "errors"} {
			total[k] = sum[i]
		}
		total["ok"] = ok
		defer writeJSON(g.stdout, total)
		for _, r := range results {
			out := map[string]any{"type": "account", "account": r.Account, "ok": r.OK(), "new": r.New, "seen": r.Seen,
				"bytes": r.Bytes, "flags": r.Flags, "gone": r.Gone, "deleted": r.Deleted, "errors": len(r.Errors),
				"seconds": r.Finished.Sub(r.Started).Seconds(), "dry_run": r.DryRun}
			if e := r.Err(); e != nil {
				out["error"] = ops.Describe("", e)
			}
			writeJSON(g.stdout, out)
		}
		return
	}
	for _, r := range results {
		partly := fmt.Sprintf("%d errors", len(r.Errors))
		if r.Incomplete != "" {
			partly += "; folder list incomplete"
		}
		status := g.outcome(r.Fatal, r.OK(), partly)
		verb := "new"
		if r.DryRun {
			verb = "would fetch"
		}
		if r.Budget != "" && r.OK() {
			status = "ok, stopped early: " + r.Budget + "; the next run continues"
		}
		fmt.Fprintf(g.stdout, "%-20s %s %d, already archived %d, %s, flags changed %d, gone %d, %.1fs  %s\n",
			termsafe.String(r.Account), verb, r.New, r.Seen, humanBytes(r.Bytes), r.Flags, r.Gone, r.Finished.Sub(r.Started).Seconds(), status)
		if r.Deleted > 0 {
			fmt.Fprintf(g.stdout, "%-20s deleted from the server: %d (archived and verified first)\n", "", r.Deleted)
		}
	}
}
