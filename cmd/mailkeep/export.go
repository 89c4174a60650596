package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/internal/termsafe"
	"github.com/mailkeep/mailkeep/restore"
)

func init() { subcommands = append(subcommands, newExportCmd) }

func newExportCmd(g *globals) *cobra.Command {
	var o struct {
		format, out, since, before, archiveDir string
		lineEndings                            string
		folders, exclude                       []string
		includeDeleted, force, dryRun, sync    bool
	}
	var sel selection
	cmd := &cobra.Command{
		Use:   "export [ACCOUNT] --format maildir|mbox|eml --out DIR",
		Short: "Write an account's archived mail out as Maildir, mbox or .eml files",
		Long: `Writes the archived messages of ACCOUNT into DIR:

  maildir  a Maildir++ tree (INBOX in DIR, other folders in DIR/.Name.Sub),
           flags in the file names, keywords in dovecot-keywords, file
           times = INTERNALDATE; Dovecot, mutt/neomutt and notmuch read it.
  mbox     one mboxrd file per folder (DIR/INBOX.mbox, DIR/Archive/2019.mbox)
           with "From sender date" lines; no flags.
  eml      one .eml file per message, a directory per folder, named by date
           (2019-03-04T050607Z-1234.eml); no flags.

Line ends: Maildir and mbox get LF, the local convention (Dovecot, mutt,
notmuch, mbsync), .eml files the exact bytes; --line-endings exact|lf|crlf
chooses. Only a message whose line ends are all of one kind is converted,
so import gives the archived bytes back; any other is written as it is.

Messages deleted on the server are left out unless --include-deleted; mail
mailkeep took off the server (POP3 delete, cleanup) is always exported.
--query Q exports just what 'mailkeep search Q' finds, --id N just that
message (ACCOUNT may then be left out).
Nothing appears under its final name before it is complete. DIR must be
empty or new, unless --force: then a Maildir or .eml tree of an earlier
export is brought up to date (new messages added, Maildir flags updated,
nothing written twice), and mbox files are replaced.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !sel.active() {
				return usageErr("ACCOUNT is required (or --query/--id to choose messages)")
			}
			format := mailfmt.Format(strings.ToLower(o.format))
			switch format {
			case mailfmt.Maildir, mailfmt.Mbox, mailfmt.EML:
			case "":
				return usageErr("--format is required (maildir, mbox or eml)")
			default:
				return usageErr("--format %q: want maildir, mbox or eml", o.format)
			}
			if o.out == "" {
				return usageErr("--out DIR is required")
			}
			lines, err := mailfmt.ParseLineEndings(o.lineEndings)
			if err != nil {
				return usageErr("--line-endings %q: want exact, lf or crlf", o.lineEndings)
			}
			since, err := xferParseDay("--since", o.since)
			if err != nil {
				return err
			}
			before, err := xferParseDay("--before", o.before)
			if err != nil {
				return err
			}
			for _, p := range append(append([]string(nil), o.folders...), o.exclude...) {
				if p == "" {
					return usageErr("--folder and --exclude take a folder name or pattern")
				}
			}
			dir, err := g.xferArchiveDir(o.archiveDir)
			if err != nil {
				return err
			}
			account := ""
			if len(args) == 1 {
				account = args[0]
			}
			var only map[int64]bool
			if sel.active() {
				sel.includeDeleted = o.includeDeleted
				c, acct, err := g.resolveSelection(cmd.Context(), dir, &sel, account)
				if err != nil {
					return err
				}
				// What was chosen is exported, wherever it is now.
				only, account, o.includeDeleted = c.only, acct, true
			}
			res := ops.Export(cmd.Context(), g.env(g.xferConfig(), newUI(g, "exported")), ops.ExportOptions{
				Archive: dir, Account: account, Only: only, Format: format, Out: o.out,
				Folders: config.FolderFilter{Include: o.folders, Exclude: o.exclude},
				Since:   since, Before: before, IncludeDeleted: o.includeDeleted,
				Force: o.force, DryRun: o.dryRun, Sync: o.sync, LineEndings: lines,
			})
			if res.Export != nil {
				g.printExportSummary(res.Export)
			}
			return done(res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "maildir, mbox or eml (required)")
	f.StringVarP(&o.out, "out", "o", "", "directory to write into (required; created if missing)")
	f.StringArrayVar(&o.folders, "folder", nil, "export only folders matching this pattern (repeatable; * and % wildcards)")
	f.StringArrayVar(&o.exclude, "exclude", nil, "leave out folders matching this pattern (repeatable)")
	f.StringVar(&o.since, "since", "", "only messages with INTERNALDATE on or after this day (YYYY-MM-DD) or time (RFC 3339)")
	f.StringVar(&o.before, "before", "", "only messages with INTERNALDATE before this day or time")
	f.BoolVar(&o.includeDeleted, "include-deleted", false, "also export messages that are gone from the server")
	f.BoolVar(&o.force, "force", false, "write into a directory that is not empty")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "count what would be written; write nothing")
	f.BoolVar(&o.sync, "sync", false, "fsync every file before renaming it into place (slower; mbox files are always synced)")
	f.StringVar(&o.lineEndings, "line-endings", "", "exact, lf or crlf (default: lf for maildir and mbox, exact for eml)")
	f.StringVar(&o.archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	sel.add(cmd, "export")
	return cmd
}

// xferArchiveDir is --archive, or the config's archive.
func (g *globals) xferArchiveDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return "", err
	}
	return cfg.Archive, nil
}

// xferParseDay reads YYYY-MM-DD (midnight, local time) or RFC 3339.
func xferParseDay(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageErr("%s %q: want a day (2019-03-04) or a time (2019-03-04T05:06:07+01:00)", flag, s)
}

func (g *globals) printExportSummary(r *restore.ExportResult) {
	secs := r.Finished.Sub(r.Started).Seconds()
	if g.json {
		out := map[string]any{"event": "summary", "account": r.Account, "ok": r.OK(), "format": string(r.Format), "out": r.Out,
			"exported": r.Messages, "unchanged": r.Unchanged, "bytes": r.Bytes, "warnings": r.Warnings, "errors": len(r.Errors), "seconds": secs,
			"dry_run": r.DryRun}
		if e := r.Err(); e != nil {
			out["error"] = ops.Describe("", e)
		}
		writeJSON(g.stdout, out)
		return
	}
	status := g.outcome(r.Fatal, r.OK(), fmt.Sprintf("%d messages failed", len(r.Errors)))
	verb := "exported"
	if r.DryRun {
		verb = "would export"
	}
	fmt.Fprintf(g.stdout, "%-20s %s %d messages, %s as %s to %s, %.1fs", termsafe.String(r.Account), verb, r.Messages, humanBytes(r.Bytes),
		r.Format, termsafe.String(r.Out), secs)
	if r.Unchanged > 0 {
		fmt.Fprintf(g.stdout, ", %d there already", r.Unchanged)
	}
	if r.Warnings > 0 {
		fmt.Fprintf(g.stdout, ", %d warnings", r.Warnings)
	}
	fmt.Fprintf(g.stdout, "  %s\n", status)
}
