package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/termsafe"
	"github.com/mailkeep/mailkeep/restore"
)

func init() { subcommands = append(subcommands, newRestoreCmd) }

// xferFlags are the options restore and migrate share.
type xferFlags struct {
	folders, exclude []string
	dryRun, repair   bool
}

func (x *xferFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&x.folders, "folder", nil, "only source folders matching this pattern (repeatable; * and % wildcards, / as delimiter)")
	f.StringArrayVar(&x.exclude, "exclude", nil, "leave out source folders matching this pattern (repeatable)")
	f.BoolVarP(&x.dryRun, "dry-run", "n", false, "show the folder mapping and what would be copied; write nothing")
	f.BoolVar(&x.repair, "repair-line-endings", false, "turn bare LF into CRLF for targets that refuse it (each changed message is listed)")
}

func (x *xferFlags) check() error {
	for _, p := range append(append([]string(nil), x.folders...), x.exclude...) {
		if p == "" {
			return usageErr("--folder and --exclude take a folder name or pattern")
		}
	}
	return nil
}

func (x *xferFlags) filter() config.FolderFilter {
	return config.FolderFilter{Include: x.folders, Exclude: x.exclude}
}

func newRestoreCmd(g *globals) *cobra.Command {
	var x xferFlags
	var includeDeleted bool
	var asOf string
	var sel selection
	cmd := &cobra.Command{
		Use:   "restore [ACCOUNT] --to TARGET",
		Short: "APPEND archived mail of an account into an IMAP account",
		Long: `Copies the archived mail of ACCOUNT (an account name in the archive) into
the IMAP account TARGET of the configuration: every folder (or those chosen
with --folder/--exclude), with flags the target allows and INTERNALDATE.

Folders are mapped to the target: its delimiter and personal namespace
("INBOX." on Courier-style servers), special-use folders by their role
(\Sent goes to the target's Sent folder, whatever its name), and the
target's folder_map. Missing folders are created and subscribed.

Nothing is copied twice: the archive keeps a ledger of what went where,
and mail already on the target (from an earlier tool, a lost ledger) is
recognised by Message-ID, size and date, or by content, and adopted.
Restore can be re-run at any time.

By default the latest state is restored; --include-deleted also brings
back messages deleted on the source server, --as-of the state of a day.
At the end a table shows, per folder, the messages in the source, on the
target, copied, adopted, and skipped with the reason. The exit status is 0
only when every source message is on the target.

--query Q restores just what 'mailkeep search Q' finds, --id N just that
message, each into its own folder; ACCOUNT may then be left out, and
without --to the mail goes back into the account it came from.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			to, _ := cmd.Flags().GetString("to")
			if len(args) == 0 && !sel.active() {
				return usageErr("ACCOUNT is required (or --query/--id to choose messages)")
			}
			if to == "" && !sel.active() {
				return usageErr("--to TARGET is required: the IMAP account to restore into")
			}
			if sel.active() && asOf != "" {
				return usageErr("--as-of does not go with --query or --id")
			}
			if err := x.check(); err != nil {
				return err
			}
			var when time.Time
			if asOf != "" {
				var err error
				if when, err = parseAsOf(asOf); err != nil {
					return err
				}
				if includeDeleted {
					return usageErr("--as-of and --include-deleted do not go together")
				}
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			source := ""
			if len(args) == 1 {
				source = args[0]
			}
			ro := ops.RestoreOptions{Source: source, To: to, Folders: x.filter(), IncludeDeleted: includeDeleted, AsOf: when,
				DryRun: x.dryRun, RepairLineEndings: x.repair}
			if sel.active() {
				sel.includeDeleted = includeDeleted
				c, acct, err := g.resolveSelection(cmd.Context(), cfg.Archive, &sel, source)
				if err != nil {
					return err
				}
				// What was chosen is restored, wherever it is now; by
				// default into the account it came from.
				ro.Source, ro.Only, ro.OnlyFolders, ro.IncludeDeleted = acct, c.only, c.accounts[acct], true
				if ro.To == "" {
					ro.To = acct
				}
			}
			o := ops.Restore(cmd.Context(), g.env(cfg, newUI(g, "copied")), ro)
			if o.Xfer != nil {
				g.printReconciliation("restore", o.Xfer)
			}
			return done(o)
		},
	}
	cmd.Flags().String("to", "", "IMAP account (in the configuration) to restore into")
	cmd.Flags().BoolVar(&includeDeleted, "include-deleted", false, "also restore messages deleted on the source server")
	cmd.Flags().StringVar(&asOf, "as-of", "", "restore the state of this day (YYYY-MM-DD, its end in local time) or moment (RFC 3339)")
	x.add(cmd)
	sel.add(cmd, "restore")
	return cmd
}

// parseAsOf reads --as-of: a day means the state at the end of that day.
func parseAsOf(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t.AddDate(0, 0, 1).Add(-time.Second), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageErr("--as-of %q: want YYYY-MM-DD or an RFC 3339 time such as 2024-05-01T12:00:00+02:00", s)
}

// printReconciliation shows, per target folder, what the source holds,
// what is on the target, and what this run did.
func (g *globals) printReconciliation(verb string, res *restore.Result) {
	if g.json {
		for _, f := range res.Folders {
			out := map[string]any{"event": "folder", "target": f.Target, "sources": f.Sources, "how": f.How,
				"created": f.Created, "in_source": f.InSource, "on_target": f.OnTarget, "target_total": f.TargetTotal,
				"copied": f.Copied, "copied_bytes": f.CopiedBytes, "adopted": f.Adopted, "flags_updated": f.FlagsUpdated,
				"dry_run": res.DryRun}
			var sk, rp []string
			for _, s := range f.Skipped {
				sk = append(sk, s.String())
			}
			for _, s := range f.Repaired {
				rp = append(rp, s.String())
			}
			if sk != nil {
				out["skipped"] = sk
			}
			if rp != nil {
				out["repaired"] = rp
			}
			if len(f.Altered) > 0 {
				var al []string
				for _, s := range f.Altered {
					al = append(al, s.String())
				}
				out["altered"] = al
			}
			if len(f.DroppedFlags) > 0 {
				out["dropped_flags"] = f.DroppedFlags
			}
			if f.Err != nil {
				out["error"] = ops.Describe("", f.Err)
			}
			writeJSON(g.stdout, out)
		}
		in, on, copied, adopted, flags, skipped, bytes := res.Totals()
		out := map[string]any{"event": "summary", "kind": verb, "source": res.Source, "target": res.Target, "ok": res.OK(),
			"in_source": in, "on_target": on, "copied": copied, "adopted": adopted, "flags_updated": flags,
			"skipped": skipped, "altered": res.AlteredTotal(), "bytes": bytes, "seconds": res.Finished.Sub(res.Started).Seconds(), "dry_run": res.DryRun}
		if err := res.Err(); err != nil {
			out["error"] = ops.Describe("", err)
		}
		writeJSON(g.stdout, out)
		return
	}
	w := g.stdout
	title := fmt.Sprintf("%s %s -> %s", verb, res.Source, res.Target)
	if res.DryRun {
		title += " (dry run: nothing written)"
	}
	fmt.Fprintln(w, title)
	if res.DryRun {
		fmt.Fprintf(w, "  %-44s %8s %10s %11s %9s\n", "SOURCE FOLDER -> TARGET FOLDER", "SOURCE", "WOULD COPY", "WOULD ADOPT", "FLAGS")
	} else {
		fmt.Fprintf(w, "  %-44s %8s %9s %8s %8s %7s %8s\n", "SOURCE FOLDER -> TARGET FOLDER", "SOURCE", "ON TARGET", "COPIED", "ADOPTED", "FLAGS", "SKIPPED")
	}
	for _, f := range res.Folders {
		name := strings.Join(f.Sources, ", ") + " -> " + f.Target
		var tags []string
		if f.How == "special-use" || f.How == "folder_map" {
			tags = append(tags, f.How)
		}
		if f.Created {
			tags = append(tags, "new")
		}
		if len(tags) > 0 {
			name += " (" + strings.Join(tags, ", ") + ")"
		}
		name = termsafe.String(name)
		if res.DryRun {
			fmt.Fprintf(w, "  %-44s %8d %10d %11d %9d\n", name, f.InSource, f.Copied, f.Adopted, f.FlagsUpdated)
		} else {
			fmt.Fprintf(w, "  %-44s %8d %9d %8d %8d %7d %8d\n", name, f.InSource, f.OnTarget, f.Copied, f.Adopted, f.FlagsUpdated, len(f.Skipped))
		}
	}
	in, on, copied, adopted, flags, skipped, bytes := res.Totals()
	secs := res.Finished.Sub(res.Started).Seconds()
	if res.DryRun {
		fmt.Fprintf(w, "  %-44s %8d %10d %11d %9d\n", "total", in, copied, adopted, flags)
	} else {
		fmt.Fprintf(w, "  %-44s %8d %9d %8d %8d %7d %8d\n", "total", in, on, copied, adopted, flags, skipped)
		if n := res.AlteredTotal(); n > 0 {
			fmt.Fprintf(w, "  %d copies on the target were altered by it (listed below): the target stores other bytes than the source's\n", n)
		}
		rate := ""
		if secs > 0 {
			rate = fmt.Sprintf(", %s/s", humanBytes(int64(float64(bytes)/secs)))
		}
		fmt.Fprintf(w, "  %s appended in %.1fs%s\n", humanBytes(bytes), secs, rate)
	}
	for _, f := range res.Folders {
		for _, n := range f.Notes {
			fmt.Fprintf(w, "  note: %s: %s\n", termsafe.String(f.Target), safeLine(n))
		}
		for _, s := range f.Skipped {
			fmt.Fprintf(w, "  skipped: %s\n", safeLine(fmt.Sprint(s)))
		}
		for _, s := range f.Repaired {
			fmt.Fprintf(w, "  repaired: %s\n", safeLine(fmt.Sprint(s)))
		}
		for _, s := range f.Altered {
			fmt.Fprintf(w, "  altered by target: %s\n", s)
		}
		if len(f.DroppedFlags) > 0 {
			var fl []string
			for k, n := range f.DroppedFlags {
				fl = append(fl, fmt.Sprintf("%s (%d)", k, n))
			}
			sort.Strings(fl)
			fmt.Fprintf(w, "  flags left off in %s (not allowed by the target): %s\n", termsafe.String(f.Target), termsafe.String(strings.Join(fl, ", ")))
		}
		if f.Err != nil {
			fmt.Fprintf(w, "  FAILED: %s: %s\n", termsafe.String(f.Target), safeLine(f.Err.Error()))
		}
	}
	if res.Backup != nil {
		b := res.Backup
		fmt.Fprintf(w, "  source %s: %d new in the archive, %s read, %d flag changes, %d gone\n", b.Account, b.New+b.Seen, humanBytes(b.Bytes), b.Flags, b.Gone)
	}
	if err := res.Err(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(w, "  NOT COMPLETE: %s\n", safeLine(err.Error()))
	}
}
