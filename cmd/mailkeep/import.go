package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

func init() { subcommands = append(subcommands, newImportCmd) }

func newImportCmd(g *globals) *cobra.Command {
	var from, folder, format, archiveDir string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import ACCOUNT --from PATH [--folder NAME] [--format auto|maildir|mbox|eml|imap-backup]",
		Short: "Bring mbox, Maildir, .eml and imap-backup mail into the archive",
		Long: `Reads the mail under PATH into ACCOUNT of the archive (created if new; it
need not be in the config):

  maildir      a Maildir, or a tree of them: Dovecot's Maildir++ (.Sent,
               .Archive.2019), directory trees, mbsync and OfflineIMAP names
               (,U=); flags from the file names, INTERNALDATE from the mtime
  mbox         mbox files (mboxrd and mboxo), Thunderbird's .sbd trees;
               flags from Status:/X-Status: where present
  eml          directories of .eml files
  imap-backup  imap-backup's .mbox + .imap pairs, with UIDs and flags

A tree keeps its folder names; --folder NAME puts a single mailbox into
NAME, and a tree under NAME. Messages are deduplicated against everything
archived, and importing the same PATH again adds nothing. A file or message
that cannot be read is reported and the rest is imported (exit code 3).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := mailfmt.ParseFormat(format)
			if err != nil {
				return usageErr("--format: %v", err)
			}
			if from == "" {
				return usageErr("--from PATH is required")
			}
			if _, err := os.Stat(from); err != nil {
				// Before the config is read: the path is what is wrong.
				return &exitError{code: exitFailed, err: fmt.Errorf("import from %s: %w", from, err)}
			}
			dir, err := g.xferArchiveDir(archiveDir)
			if err != nil {
				return err
			}
			res := ops.Import(cmd.Context(), g.env(g.xferConfig(), newUI(g, "imported")), ops.ImportOptions{
				Archive: dir, Account: args[0], From: from, Format: f, Folder: folder, DryRun: dryRun,
			})
			if res.Import != nil {
				g.printImportSummary(res.Import)
			}
			return done(res)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "file or directory to import (required)")
	fl.StringVar(&folder, "folder", "", "target folder (a tree goes under it)")
	fl.StringVar(&format, "format", "auto", "auto, maildir, mbox, eml or imap-backup")
	fl.BoolVarP(&dryRun, "dry-run", "n", false, "count what would be imported; write nothing")
	fl.StringVar(&archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	return cmd
}

func (g *globals) printImportSummary(r *backup.ImportResult) {
	secs := r.Finished.Sub(r.Started).Seconds()
	if g.json {
		out := map[string]any{"event": "summary", "account": r.Account, "ok": r.OK(), "from": r.From, "new": r.New,
			"seen": r.Dup, "known": r.Known, "flags": r.Flags, "bytes": r.Bytes, "warnings": r.Warnings,
			"errors": len(r.Errors), "folders": len(r.Folders), "seconds": secs, "dry_run": r.DryRun}
		if e := r.Err(); e != nil {
			out["error"] = ops.Describe("", e)
		}
		writeJSON(g.stdout, out)
		return
	}
	status := g.outcome(r.Fatal, r.OK(), fmt.Sprintf("%d errors", len(r.Errors)))
	verb := "imported"
	if r.DryRun {
		verb = "would import"
	}
	fmt.Fprintf(g.stdout, "%-20s %s %d new, already archived %d, imported before %d, %s from %d folders, %.1fs",
		termsafe.String(r.Account), verb, r.New, r.Dup, r.Known, humanBytes(r.Bytes), len(r.Folders), secs)
	if r.Warnings > 0 {
		fmt.Fprintf(g.stdout, ", %d warnings", r.Warnings)
	}
	fmt.Fprintf(g.stdout, "  %s\n", status)
}
