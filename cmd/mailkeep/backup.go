package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
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
			accts, err := pickAccounts(cfg, args)
			if err != nil {
				return err
			}
			return g.runBackup(cmd.Context(), cfg, accts, dryRun, g.job)
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "show what would be fetched; write nothing")
	return cmd
}

// runBackup backs the accounts up concurrently and prints a summary.
func (g *globals) runBackup(ctx context.Context, cfg *config.Config, accts []*config.Account, dryRun bool, job string) error {
	var repo *archive.Repo
	var err error
	if dryRun {
		repo, err = archive.Open(ctx, cfg.Archive, nil)
		if err != nil {
			repo = nil // nothing archived yet: everything would be fetched
		}
	} else {
		repo, err = openArchive(ctx, cfg, "mailkeep backup")
		if err != nil {
			return err
		}
	}
	if repo != nil {
		defer repo.Close()
	}
	u := newUI(g, "backed up")
	results := make([]*backup.Result, len(accts))
	sem := make(chan struct{}, max(1, cfg.Concurrency))
	var wg sync.WaitGroup
	for i, a := range accts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = g.backupAccount(ctx, repo, a, dryRun, u)
		}()
	}
	wg.Wait()
	if repo != nil && !dryRun {
		// Record each account's outcome for 'mailkeep status', even when
		// interrupted: what is committed is consistent.
		wctx := context.WithoutCancel(ctx)
		for _, r := range results {
			run := archive.Run{Account: r.Account, Job: job, Kind: "backup", Started: r.Started, Finished: r.Finished,
				OK: r.OK(), Messages: r.New + r.Seen, Bytes: r.Bytes, Errors: int64(len(r.Errors))}
			if e := r.Err(); e != nil {
				run.Error = oneLine(e.Error())
			}
			repo.RecordRun(wctx, run)
		}
		if err := repo.Commit(wctx); err != nil {
			return &exitError{code: exitFailed, err: err}
		}
	}
	g.printBackupSummary(results)
	return backupExit(ctx, results)
}

func (g *globals) backupAccount(ctx context.Context, repo *archive.Repo, a *config.Account, dryRun bool, rep progress.Reporter) *backup.Result {
	fail := func(err error) *backup.Result {
		r := &backup.Result{Account: a.Name, Started: time.Now(), Finished: time.Now(), Fatal: err}
		progress.Send(rep, progress.Event{Kind: progress.Failed, Account: a.Name, Err: err})
		return r
	}
	switch a.Protocol() {
	case "imap":
		dial, err := g.imapDialer(a)
		if err != nil {
			return fail(err)
		}
		ia := &backup.IMAPAccount{Name: a.Name, Dial: dial, Include: a.Folders.Match, DryRun: dryRun}
		if a.MaxBytesPerDay > 0 && repo != nil {
			// max_bytes_per_day: what the last 24 hours already took counts.
			used, err := bytesSince(ctx, repo, a.Name, time.Now().Add(-24*time.Hour))
			if err != nil {
				return fail(err)
			}
			ia.Budget = ratelimit.NewBudget(a.MaxBytesPerDay, used)
			if err := ia.Budget.Err(); err != nil {
				r := &backup.Result{Account: a.Name, Started: time.Now(), Finished: time.Now(), Budget: err.Error()}
				progress.Send(rep, progress.Event{Kind: progress.Warning, Account: a.Name, Text: err.Error() + "; nothing fetched, the next run continues"})
				return r
			}
		}
		return backup.IMAP(ctx, repo, ia, rep)
	case "pop3":
		return g.backupPOP3(ctx, repo, a, dryRun, rep)
	default:
		return fail(fmt.Errorf("%s: protocol %s is not supported by backup yet", a.Name, a.Protocol()))
	}
}

func backupExit(ctx context.Context, results []*backup.Result) error {
	failed, ok := 0, 0
	for _, r := range results {
		switch {
		case r.Fatal != nil:
			failed++
		case r.OK():
			ok++
		default:
			failed++ // partly done: counts as not fully done
		}
	}
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted}
	}
	switch {
	case failed == 0:
		return nil
	case ok == 0 && allFatal(results):
		return &exitError{code: exitFailed}
	default:
		return &exitError{code: exitPartial}
	}
}

func allFatal(results []*backup.Result) bool {
	for _, r := range results {
		if r.Fatal == nil {
			return false
		}
	}
	return true
}

func (g *globals) printBackupSummary(results []*backup.Result) {
	if g.json {
		for _, r := range results {
			out := map[string]any{"event": "summary", "account": r.Account, "ok": r.OK(), "new": r.New, "seen": r.Seen,
				"bytes": r.Bytes, "flags": r.Flags, "gone": r.Gone, "deleted": r.Deleted, "errors": len(r.Errors),
				"seconds": r.Finished.Sub(r.Started).Seconds(), "dry_run": r.DryRun}
			if e := r.Err(); e != nil {
				out["error"] = oneLine(e.Error())
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
		status := outcome(r.Fatal, r.OK(), partly)
		verb := "new"
		if r.DryRun {
			verb = "would fetch"
		}
		if r.Budget != "" && r.OK() {
			status = "ok, stopped early: " + r.Budget + "; the next run continues"
		}
		fmt.Fprintf(g.stdout, "%-20s %s %d, already archived %d, %s, flags changed %d, gone %d, %.1fs  %s\n",
			r.Account, verb, r.New, r.Seen, humanBytes(r.Bytes), r.Flags, r.Gone, r.Finished.Sub(r.Started).Seconds(), status)
		if r.Deleted > 0 {
			fmt.Fprintf(g.stdout, "%-20s deleted from the server: %d (archived and verified first)\n", "", r.Deleted)
		}
	}
}
