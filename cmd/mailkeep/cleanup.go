package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

func init() { subcommands = append(subcommands, newCleanupCmd) }

// defaultCleanupBatch is how many messages one STORE + EXPUNGE takes.
const defaultCleanupBatch = 1000

// cleanupFlags are the command's flags as typed.
type cleanupFlags struct {
	olderThan, before, largerThan, by string
	folders, excludes                 []string
	gmailTrash, allowExpunge, dryRun  bool
	batch                             int
}

func newCleanupCmd(g *globals) *cobra.Command {
	var f cleanupFlags
	cmd := &cobra.Command{
		Use:   "cleanup ACCOUNT (--older-than AGE | --before DATE | --larger-than SIZE) [flags]",
		Short: "Archive, verify, then delete old mail on the server",
		Long: `Frees space on an IMAP server by deleting mail that the archive holds.

First the chosen folders are backed up. Then, folder by folder, a message
that matches the criteria is deleted only if the archive holds it at the
folder's current UIDVALIDITY and UID, with the same size, and its archived
copy reads back now with the right SHA-256. Everything else stays on the
server, and the report says why. Deletion is UID STORE \Deleted followed by
UID EXPUNGE of exactly those messages, in batches.

Criteria (all given must match; at least one is required):
  --older-than AGE   older than 90d, 6w, 18m (months), 2y, 1y6m
  --before DATE      dated before this day: 2024-12-31 (local midnight) or an
                     RFC 3339 time; with --older-than, the earlier date wins
  --larger-than SIZE larger than 500k, 10MB, 1GiB
Dates are whole days, as IMAP SEARCH compares them: INTERNALDATE (when the
server received the message), or the Date: header with --by date-header.

Folders: all the account's folders, or --folder patterns, minus --exclude
patterns (the config's folder patterns: * and %, / for the delimiter). A
pattern that matches no folder is an error.

--dry-run still brings the archive up to date (that only adds to it), then
lists exactly what would be deleted and deletes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.parse(time.Now())
			if err != nil {
				return err
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			return g.runCleanup(cmd.Context(), cfg, args[0], spec)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.olderThan, "older-than", "", "delete mail older than `AGE` (90d, 6w, 18m = months, 2y)")
	fl.StringVar(&f.before, "before", "", "delete mail dated before `DATE` (2024-12-31, local midnight, or RFC 3339)")
	fl.StringVar(&f.largerThan, "larger-than", "", "delete only mail larger than `SIZE` (500k, 10MB, 1GiB)")
	fl.StringArrayVar(&f.folders, "folder", nil, "clean up only folders matching `PATTERN` (repeatable)")
	fl.StringArrayVar(&f.excludes, "exclude", nil, "leave folders matching `PATTERN` alone (repeatable)")
	fl.StringVar(&f.by, "by", "internaldate", "which date counts: internaldate or date-header")
	fl.BoolVar(&f.gmailTrash, "gmail-trash", false, "Gmail: move to the Trash folder and expunge there (deleting from a label only unlabels)")
	fl.BoolVar(&f.allowExpunge, "allow-expunge", false, "server without UIDPLUS: allow a bare EXPUNGE while no other message in the folder is \\Deleted")
	fl.BoolVarP(&f.dryRun, "dry-run", "n", false, "list what would be deleted; delete nothing")
	fl.IntVar(&f.batch, "batch", defaultCleanupBatch, "messages per STORE + EXPUNGE")
	fl.MarkHidden("batch")
	return cmd
}

// cleanupSpec is what to delete, checked.
type cleanupSpec struct {
	before       time.Time
	largerThan   int64
	folders      config.FolderFilter
	byDateHeader bool
	gmailTrash   bool
	allowExpunge bool
	dryRun       bool
	batch        int
	describe     string
}

func (f *cleanupFlags) parse(now time.Time) (*cleanupSpec, error) {
	s := &cleanupSpec{gmailTrash: f.gmailTrash, allowExpunge: f.allowExpunge, dryRun: f.dryRun, batch: f.batch,
		folders: config.FolderFilter{Include: f.folders, Exclude: f.excludes}}
	var what []string
	if f.olderThan != "" {
		age, err := config.ParseAge(f.olderThan)
		if err != nil {
			return nil, usageErr("--older-than: %v", err)
		}
		if age.IsZero() {
			return nil, usageErr("--older-than %q: must be more than 0", f.olderThan)
		}
		s.before = age.Before(now)
		what = append(what, "older than "+age.String())
	}
	if f.before != "" {
		t, err := parseDay(f.before)
		if err != nil {
			return nil, usageErr("--before: %v", err)
		}
		if t.After(now) {
			return nil, usageErr("--before %s: that is in the future, so every message would match", f.before)
		}
		if s.before.IsZero() || t.Before(s.before) {
			s.before = t
		}
		what = append(what, "before "+f.before)
	}
	if f.largerThan != "" {
		n, err := config.ParseSize(f.largerThan)
		if err != nil {
			return nil, usageErr("--larger-than: %v", err)
		}
		if n <= 0 {
			return nil, usageErr("--larger-than %q: must be more than 0", f.largerThan)
		}
		s.largerThan = n
		what = append(what, fmt.Sprintf("larger than %s (%d bytes)", f.largerThan, n))
	}
	if len(what) == 0 {
		return nil, &exitError{code: exitUsage, err: errors.New("cleanup needs --older-than AGE, --before DATE or --larger-than SIZE: it never deletes everything"),
			hint: "for example: mailkeep cleanup ACCOUNT --older-than 2y --dry-run"}
	}
	switch f.by {
	case "internaldate", "":
	case "date-header":
		if s.before.IsZero() {
			return nil, usageErr("--by date-header needs --older-than or --before")
		}
		s.byDateHeader = true
	default:
		return nil, usageErr("--by %q: want internaldate or date-header", f.by)
	}
	for _, p := range append(append([]string{}, f.folders...), f.excludes...) {
		if strings.TrimSpace(p) == "" {
			return nil, usageErr("empty folder pattern")
		}
	}
	if f.batch <= 0 {
		return nil, usageErr("--batch must be more than 0")
	}
	if !s.before.IsZero() {
		by := "INTERNALDATE"
		if s.byDateHeader {
			by = "Date: header"
		}
		s.describe = fmt.Sprintf(" (%s before %s)", by, s.before.Format("2006-01-02"))
	}
	s.describe = strings.Join(what, ", ") + s.describe
	return s, nil
}

// parseDay reads 2024-12-31 (midnight, local time) or an RFC 3339 time.
func parseDay(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date like 2024-12-31 or an RFC 3339 time", s)
}

func (g *globals) runCleanup(ctx context.Context, cfg *config.Config, account string, s *cleanupSpec) error {
	o := ops.Cleanup(ctx, g.env(cfg, newUI(g, "backed up")), s.options(account))
	if r := o.Cleanup; r != nil && (r.Fatal == nil || len(r.Folders) > 0) {
		g.printCleanup(r, s)
	}
	return done(o)
}

// options are the typed options of a cleanup of account.
func (s *cleanupSpec) options(account string) ops.CleanupOptions {
	return ops.CleanupOptions{Account: account, Before: s.before, LargerThan: s.largerThan, Folders: s.folders,
		ByDateHeader: s.byDateHeader, GmailTrash: s.gmailTrash, AllowExpunge: s.allowExpunge, DryRun: s.dryRun, Batch: s.batch}
}

func (g *globals) printCleanup(r *backup.CleanupResult, s *cleanupSpec) {
	if g.json {
		g.printCleanupJSON(r)
		return
	}
	w := g.stdout
	if r.DryRun {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FOLDER\tUID\tDATE\tSIZE\tSUBJECT")
		n := 0
		for _, f := range r.Folders {
			for _, it := range f.Items {
				if it.Kept != "" {
					continue
				}
				n++
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", termsafe.String(f.Name), it.UID, it.Date.Format("2006-01-02 15:04"), humanBytes(it.Size),
					termsafe.String(trunc(it.Subject, 60)))
			}
		}
		if n > 0 {
			tw.Flush()
			fmt.Fprintln(w)
		}
	} else if g.verbose > 0 {
		for _, f := range r.Folders {
			for _, it := range f.Items {
				if it.Kept == "" {
					fmt.Fprintf(w, "deleted %s/%s uid %d  %s  %s  %s\n", termsafe.String(r.Account), termsafe.String(f.Name), it.UID,
						it.Date.Format("2006-01-02"), humanBytes(it.Size), termsafe.String(trunc(it.Subject, 60)))
				}
			}
		}
	}
	verb, freed := "DELETED", "FREED"
	if r.DryRun {
		verb, freed = "WOULD DELETE", "WOULD FREE"
	}
	fmt.Fprintf(w, "%s: cleanup of mail %s%s\n", r.Account, s.describe, map[bool]string{true: " (dry run: nothing deleted)"}[r.DryRun])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  FOLDER\tCANDIDATES\t%s\t%s\tKEPT\n", verb, freed)
	for _, f := range r.Folders {
		kept := fmt.Sprint(f.KeptTotal())
		if ks := backup.KeptString(f.Kept); ks != "" {
			kept += ": " + ks
		}
		switch {
		case f.Skipped != "":
			kept = f.Skipped
		case f.Err != nil:
			kept += "; FAILED: " + ops.Describe("", f.Err)
		}
		if f.Recovered > 0 {
			kept += fmt.Sprintf("; %d completed from an interrupted run", f.Recovered)
		}
		if f.Pending > 0 {
			kept += fmt.Sprintf("; %d flagged by an interrupted run (a real run completes them)", f.Pending)
		}
		if f.Unflagged > 0 {
			kept += fmt.Sprintf("; \\Deleted taken off %d", f.Unflagged)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\n", termsafe.String(f.Name), f.Candidates, f.Deleted, humanBytes(f.Bytes), safeLine(kept))
	}
	fmt.Fprintf(tw, "  total\t%d\t%d\t%s\t%d\n", r.Candidates, r.Deleted, humanBytes(r.Bytes), r.Kept)
	tw.Flush()
	for _, f := range r.Folders {
		for _, it := range f.Items {
			if it.Kept != "" {
				fmt.Fprintf(w, "  kept %s/%s uid %d: %s: %s\n", termsafe.String(r.Account), termsafe.String(f.Name), it.UID, it.Kept, safeLine(it.Detail))
			}
		}
	}
	for _, q := range r.QuotaBefore {
		after := "unknown"
		for _, a := range r.QuotaAfter {
			if a.Root == q.Root && a.Resource == q.Resource {
				after = quotaValue(a.Resource, a.Usage)
			}
		}
		if r.DryRun {
			after = "unchanged (dry run)"
		}
		fmt.Fprintf(w, "  quota %q %s: %s of %s before, %s after\n", q.Root, q.Resource, quotaValue(q.Resource, q.Usage),
			quotaValue(q.Resource, q.Limit), after)
	}
	if len(r.QuotaBefore) == 0 && r.QuotaNote != "" {
		fmt.Fprintf(w, "  quota: %s\n", safeLine(r.QuotaNote))
	}
	if r.Backup != nil && !r.Backup.OK() {
		fmt.Fprintf(w, "  backup before cleanup: %d errors (see above); mail it missed was kept\n", len(r.Backup.Errors))
	}
}

// quotaValue shows a quota figure: STORAGE is in KiB (RFC 9208 5.1).
func quotaValue(resource string, v int64) string {
	if strings.EqualFold(resource, "STORAGE") {
		return humanBytes(v * 1024)
	}
	return strconv.FormatInt(v, 10)
}

func (g *globals) printCleanupJSON(r *backup.CleanupResult) {
	for _, f := range r.Folders {
		for _, it := range f.Items {
			if it.Kept == "" && !r.DryRun && g.verbose == 0 {
				continue // one line per deleted message only with -v
			}
			ev := "deleted"
			if r.DryRun {
				ev = "would-delete"
			}
			out := map[string]any{"event": ev, "account": r.Account, "folder": f.Name, "uid": it.UID,
				"date": it.Date.Format(time.RFC3339), "size": it.Size, "subject": it.Subject, "sha256": it.Hash.String()}
			if it.Kept != "" {
				out["event"], out["reason"], out["detail"] = "kept", it.Kept, it.Detail
			}
			writeJSON(g.stdout, out)
		}
		out := map[string]any{"event": "cleanup-folder", "account": r.Account, "folder": f.Name, "candidates": f.Candidates,
			"deleted": f.Deleted, "bytes": f.Bytes, "kept": f.Kept, "recovered": f.Recovered, "unflagged": f.Unflagged,
			"pending": f.Pending, "dry_run": r.DryRun}
		if f.Skipped != "" {
			out["skipped"] = f.Skipped
		}
		if f.Err != nil {
			out["error"] = ops.Describe("", f.Err)
		}
		writeJSON(g.stdout, out)
	}
	quota := func(qs []backup.Quota) []map[string]any {
		out := []map[string]any{}
		for _, q := range qs {
			out = append(out, map[string]any{"root": q.Root, "resource": q.Resource, "usage": q.Usage, "limit": q.Limit})
		}
		return out
	}
	out := map[string]any{"event": "summary", "account": r.Account, "ok": r.OK(), "candidates": r.Candidates,
		"deleted": r.Deleted, "bytes": r.Bytes, "kept": r.Kept, "recovered": r.Recovered, "dry_run": r.DryRun,
		"quota_before": quota(r.QuotaBefore), "quota_after": quota(r.QuotaAfter), "gmail": r.Gmail,
		"seconds": r.Finished.Sub(r.Started).Seconds()}
	if e := r.Err(); e != nil {
		out["error"] = ops.Describe("", e)
	}
	writeJSON(g.stdout, out)
}
