package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
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
				return &exitError{code: exitFailed, err: fmt.Errorf("import from %s: %w", from, err)}
			}
			dir, err := g.xferArchiveDir(archiveDir)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var repo *archive.Repo
			if dryRun {
				repo, err = archive.Open(ctx, dir, nil)
				if err != nil {
					repo = nil // nothing archived yet: everything would be new
				}
			} else {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("archive %s: %w", dir, err)}
				}
				repo, err = archive.Open(ctx, dir, &archive.Options{Create: true, Purpose: "mailkeep import"})
				if err != nil {
					var le *archive.LockedError
					if errors.As(err, &le) {
						return &exitError{code: exitFailed, err: err, hint: "another mailkeep is writing this archive; wait for it to finish"}
					}
					return &exitError{code: exitFailed, err: err}
				}
			}
			if repo != nil {
				defer repo.Close()
			}
			defer g.xferMemoryLimit()()
			res := backup.Import(ctx, repo, &backup.ImportOptions{
				Account: args[0], From: from, Format: f, Folder: folder, DryRun: dryRun,
			}, newUI(g, "imported"))
			if repo != nil && !dryRun {
				wctx := context.WithoutCancel(ctx)
				run := archive.Run{Account: res.Account, Job: g.job, Kind: "import", Started: res.Started, Finished: res.Finished,
					OK: res.OK(), Messages: res.New + res.Dup, Bytes: res.Bytes, Errors: int64(len(res.Errors))}
				if e := res.Err(); e != nil {
					run.Error = oneLine(e.Error())
				}
				repo.RecordRun(wctx, run)
				if err := repo.Commit(wctx); err != nil {
					return &exitError{code: exitFailed, err: err}
				}
			}
			g.printImportSummary(res)
			return importExit(ctx, res)
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
			out["error"] = oneLine(e.Error())
		}
		writeJSON(g.stdout, out)
		return
	}
	status := outcome(r.Fatal, r.OK(), fmt.Sprintf("%d errors", len(r.Errors)))
	verb := "imported"
	if r.DryRun {
		verb = "would import"
	}
	fmt.Fprintf(g.stdout, "%-20s %s %d new, already archived %d, imported before %d, %s from %d folders, %.1fs",
		r.Account, verb, r.New, r.Dup, r.Known, humanBytes(r.Bytes), len(r.Folders), secs)
	if r.Warnings > 0 {
		fmt.Fprintf(g.stdout, ", %d warnings", r.Warnings)
	}
	fmt.Fprintf(g.stdout, "  %s\n", status)
}

// importExit maps the result to an exit code. The failures themselves
// were reported as progress events (stderr, or JSON on stdout).
func importExit(ctx context.Context, r *backup.ImportResult) error {
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitInterrupted}
	case r.Fatal != nil && r.New+r.Dup+r.Known == 0:
		return &exitError{code: exitFailed}
	case !r.OK():
		return &exitError{code: exitPartial}
	}
	return nil
}
