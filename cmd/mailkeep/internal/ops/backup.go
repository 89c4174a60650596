package ops

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
)

// BackupOptions say what to back up.
type BackupOptions struct {
	Accounts []string // by name; none: all of the config's but those with backup: false
	DryRun   bool     // count what would be fetched; write nothing
}

// Backup backs the accounts up concurrently (the config's concurrency)
// and records each account's run in the history.
func Backup(ctx context.Context, env *Env, o BackupOptions) *Outcome {
	out := &Outcome{Op: "backup", Started: time.Now(), DryRun: o.DryRun}
	names := o.Accounts
	if len(names) == 0 {
		names = env.defaultBackups()
	}
	accts, err := env.accounts(names)
	if err != nil {
		return out.fail(err).finish(false)
	}
	var repo *archive.Repo
	if o.DryRun {
		repo = openIfThere(ctx, env.Config.Archive) // nil: everything would be fetched
	} else if repo, err = openWriter(ctx, env, "mailkeep backup"); err != nil {
		return out.fail(err).finish(ctx.Err() != nil)
	}
	if repo != nil {
		defer repo.Close()
	}
	results := make([]*backup.Result, len(accts))
	sem := make(chan struct{}, max(1, env.Config.Concurrency))
	var wg sync.WaitGroup
	for i, a := range accts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = env.BackupAccount(ctx, repo, a, o.DryRun)
		}()
	}
	wg.Wait()
	out.Backups = results
	if repo != nil && !o.DryRun {
		wctx := context.WithoutCancel(ctx)
		for _, r := range results {
			run := archive.Run{Account: r.Account, Job: env.Job, Kind: "backup", Started: r.Started, Finished: r.Finished,
				OK: r.OK(), Messages: r.New + r.Seen, Bytes: r.Bytes, Errors: int64(len(r.Errors))}
			run.Error = runError(ctx, run.OK, r.Err())
			repo.RecordRun(wctx, run)
		}
		if err := repo.Commit(wctx); err != nil {
			out.fail(err)
		}
	}
	for _, r := range results {
		out.Accounts = append(out.Accounts, backupAccount(r))
	}
	return out.finish(ctx.Err() != nil)
}

// defaultBackups are the accounts a plain 'mailkeep backup' backs up:
// all but those that say backup: false.
func (env *Env) defaultBackups() []string {
	var out []string
	for _, n := range env.Config.AccountNames() {
		if !env.Config.Accounts[n].SkipBackup {
			out = append(out, n)
		}
	}
	return out
}

// accounts returns the named accounts, or all of them.
func (env *Env) accounts(names []string) ([]*config.Account, error) {
	if len(names) == 0 {
		names = env.Config.AccountNames()
	}
	var out []*config.Account
	for _, n := range names {
		a, err := env.account(n)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// BackupAccount backs one account up into repo (nil in a dry run before
// the first backup).
func (env *Env) BackupAccount(ctx context.Context, repo *archive.Repo, a *config.Account, dryRun bool) *backup.Result {
	rep := env.Reporter
	fail := func(err error) *backup.Result {
		r := &backup.Result{Account: a.Name, Started: time.Now(), Finished: time.Now(), Fatal: err, DryRun: dryRun}
		progress.Send(rep, progress.Event{Kind: progress.Failed, Account: a.Name, Err: err})
		return r
	}
	switch a.Protocol() {
	case "imap":
		dial, err := env.IMAPDialer(a)
		if err != nil {
			return fail(err)
		}
		ia := &backup.IMAPAccount{Name: a.Name, Dial: dial, Include: a.Folders.Match, Filter: &a.Folders,
			Namespaces: a.Namespaces, DryRun: dryRun}
		if a.MaxBytesPerDay > 0 && repo != nil {
			// max_bytes_per_day: what the last 24 hours already took counts.
			used, err := repo.BytesSince(ctx, a.Name, time.Now().Add(-24*time.Hour))
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
		dial, err := env.POP3Dialer(a)
		if err != nil {
			return fail(err)
		}
		pa := &backup.POP3Account{Name: a.Name, Dial: dial, Delete: a.Delete, DryRun: dryRun}
		if !a.Delete && !a.DeleteAfter.IsZero() {
			pa.DeleteBefore = a.DeleteAfter.Before
		}
		return backup.POP3(ctx, repo, pa, rep)
	}
	return fail(fmt.Errorf("%s: protocol %s is not supported by backup yet", a.Name, a.Protocol()))
}

// backupAccount is the outcome of one account's backup. Every folder
// failing is a failure, not "partly done" (nothing was backed up).
func backupAccount(r *backup.Result) *Account {
	a := &Account{Name: r.Account, Bytes: r.Bytes, Started: r.Started, Done: r.Finished, Errors: r.Errors,
		Counts: nonZero(Count{"new", r.New}, Count{"seen", r.Seen}, Count{"flags", r.Flags}, Count{"gone", r.Gone}, Count{"deleted", r.Deleted}, Count{"errors", int64(len(r.Errors))})}
	failedFolders := 0
	for _, f := range r.Folders {
		a.Folders = append(a.Folders, Folder{Name: f.Name, Bytes: f.Bytes, Err: f.Err,
			Counts: []Count{{"new", f.New}, {"seen", f.Seen}, {"flags", f.Flags}, {"gone", f.Gone}}})
		if f.Err != nil {
			failedFolders++
		}
	}
	switch {
	case r.OK():
		a.State = OK
	case r.Fatal != nil, len(r.Folders) > 0 && failedFolders == len(r.Folders):
		a.State = Failed
	default:
		a.State = Partial
	}
	if e := r.Err(); e != nil {
		a.Err = e
	}
	if r.Budget != "" {
		a.Note = "stopped early: " + r.Budget + "; the next run continues"
	}
	if r.Fatal != nil {
		a.Errors = append([]error{r.Fatal}, a.Errors...)
	}
	return a
}

// nonZero keeps the first count (the headline) and the others that are
// not zero.
func nonZero(cs ...Count) []Count {
	out := cs[:1]
	for _, c := range cs[1:] {
		if c.N != 0 {
			out = append(out, c)
		}
	}
	return out
}
