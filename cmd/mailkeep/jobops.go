package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// execute does a job's work for the given accounts by calling its
// operation, with progress going to the job's log.
func (r *runner) execute(ctx context.Context, cfg *config.Config, j *config.Job, accts []string, log *slog.Logger) (o *ops.Outcome) {
	defer func() {
		if p := recover(); p != nil {
			o = &ops.Outcome{Op: j.Kind(), Failed: true, Err: fmt.Errorf("internal error in %s: %v", j.Kind(), p)}
		}
	}()
	env := &ops.Env{Config: cfg, Reporter: &logReporter{ctx: ctx, log: log}, Job: j.Name}
	if j.Push {
		defer func() { o = withPush(ctx, env, j, o) }() // jobpush.go
	}
	if r.g.verbose >= 2 {
		env.Trace = r.g.stderr
	}
	switch {
	case j.Backup != nil:
		return ops.Backup(ctx, env, ops.BackupOptions{Accounts: accts})
	case j.Migrate != nil:
		m := j.Migrate
		return ops.Migrate(ctx, env, ops.MigrateOptions{From: m.From, To: m.To, Folders: m.Folders})
	case j.Cleanup != nil:
		c := j.Cleanup
		f := cleanupFlags{folders: c.Folders.Include, excludes: c.Folders.Exclude, by: c.By, batch: defaultCleanupBatch}
		if !c.OlderThan.IsZero() {
			f.olderThan = c.OlderThan.String()
		}
		if !c.Before.IsZero() {
			f.before = c.Before.Format(time.RFC3339)
		}
		if c.LargerThan > 0 {
			f.largerThan = strconv.FormatInt(c.LargerThan, 10)
		}
		spec, err := f.parse(r.now())
		if err != nil {
			return &ops.Outcome{Op: "cleanup", Usage: true, Err: err}
		}
		return ops.Cleanup(ctx, env, spec.options(c.Account))
	case j.Export != nil:
		e := j.Export
		// Force: a job exports into the same directory every time, and
		// brings the earlier export up to date.
		return ops.Export(ctx, env, ops.ExportOptions{Archive: cfg.Archive, Account: e.Account,
			Format: mailfmt.Format(strings.ToLower(e.Format)), Out: e.Out, Folders: e.Folders,
			IncludeDeleted: e.IncludeDeleted, Force: true})
	}
	return &ops.Outcome{Op: j.Kind(), Usage: true, Err: fmt.Errorf("job %s: nothing to do", j.Name)}
}

// logReporter logs an operation's progress: accounts and folders at
// info, failures as errors, warnings and retries as warnings, the rest
// at debug. Messages one by one are not logged.
type logReporter struct {
	ctx context.Context
	log *slog.Logger
}

func (l *logReporter) Report(e progress.Event) {
	lvl, msg := slog.LevelDebug, string(e.Kind)
	switch e.Kind {
	case progress.Item:
		return
	case progress.AccountStart:
		lvl, msg = slog.LevelInfo, "account started"
	case progress.AccountDone:
		lvl, msg = slog.LevelInfo, "account done"
		if e.Err != nil {
			lvl = slog.LevelWarn
		}
	case progress.FolderStart:
		msg = "folder started"
	case progress.FolderDone:
		lvl, msg = slog.LevelInfo, "folder done"
	case progress.Failed:
		lvl = slog.LevelError
		if l.ctx.Err() != nil {
			return // the cancellation's own errors: the job is "interrupted"
		}
	case progress.Warning:
		lvl = slog.LevelWarn
	case progress.Retry:
		lvl, msg = slog.LevelWarn, "retrying"
		if l.ctx.Err() != nil {
			return
		}
	}
	if !l.log.Enabled(l.ctx, lvl) {
		return
	}
	attrs := []any{"account", e.Account}
	if e.Folder != "" {
		attrs = append(attrs, "folder", e.Folder)
	}
	if e.UID != 0 {
		attrs = append(attrs, "uid", e.UID)
	}
	if e.UIDL != "" {
		attrs = append(attrs, "uidl", e.UIDL)
	}
	if e.Total != 0 {
		attrs = append(attrs, "total", e.Total)
	}
	if e.TotalBytes != 0 {
		attrs = append(attrs, "total_bytes", e.TotalBytes)
	}
	if e.Text != "" {
		attrs = append(attrs, "text", e.Text)
	}
	if e.Err != nil {
		attrs = append(attrs, "error", ops.StripPlace(ops.Where(e.Account, e.Folder, e.UID, e.UIDL), oneLine(e.Err.Error())))
	}
	l.log.Log(l.ctx, lvl, msg, attrs...)
}

// jobArgs is the mailkeep command line that does what a job does, for
// the given accounts (a backup job's, after sharding and back-off): what
// an operator types to run it by hand. The job itself calls the same
// operation directly (execute); TestJobArgs keeps the two in step.
func jobArgs(configPath string, j *config.Job, accts []string) []string {
	args := []string{"--config", configPath, "--job", j.Name}
	folders := func(f config.FolderFilter) {
		for _, p := range f.Include {
			args = append(args, "--folder", p)
		}
		for _, p := range f.Exclude {
			args = append(args, "--exclude", p)
		}
	}
	switch {
	case j.Backup != nil:
		args = append(args, "backup")
		args = append(args, accts...)
	case j.Migrate != nil:
		args = append(args, "migrate", j.Migrate.From, j.Migrate.To)
		folders(j.Migrate.Folders)
	case j.Cleanup != nil:
		c := j.Cleanup
		args = append(args, "cleanup", c.Account)
		if !c.OlderThan.IsZero() {
			args = append(args, "--older-than", c.OlderThan.String())
		}
		if !c.Before.IsZero() {
			args = append(args, "--before", c.Before.Format(time.RFC3339))
		}
		if c.LargerThan > 0 {
			args = append(args, "--larger-than", strconv.FormatInt(c.LargerThan, 10))
		}
		folders(c.Folders)
		if c.By != "" {
			args = append(args, "--by", c.By)
		}
	case j.Export != nil:
		e := j.Export
		// --force: a job exports into the same directory every time, and
		// brings the earlier export up to date.
		args = append(args, "export", e.Account, "--format", e.Format, "--out", e.Out, "--force")
		folders(e.Folders)
		if e.IncludeDeleted {
			args = append(args, "--include-deleted")
		}
	}
	return args
}
