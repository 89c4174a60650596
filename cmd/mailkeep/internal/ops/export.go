package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/restore"
)

// ExportOptions say what to write out where.
type ExportOptions struct {
	Archive        string // the archive directory
	Account        string
	Format         mailfmt.Format
	Out            string
	Folders        config.FolderFilter
	Since, Before  time.Time
	IncludeDeleted bool
	Force          bool
	DryRun         bool
	Sync           bool
	LineEndings    mailfmt.LineEndings // "" = the format's default
	Only           map[int64]bool      // just these message places (search results); nil: all
}

// Export writes an account's archived mail out as files.
func Export(ctx context.Context, env *Env, o ExportOptions) *Outcome {
	out := &Outcome{Op: "export", Started: time.Now(), DryRun: o.DryRun}
	repo, err := env.openReader(ctx, o.Archive, !o.DryRun) // seal.go
	if err != nil {
		return out.fail(err).finish(ctx.Err() != nil)
	}
	defer repo.Close()
	if err := ArchiveAccount(ctx, repo, o.Account); err != nil {
		return out.fail(err).finish(false)
	}
	r := restore.Export(ctx, repo, &restore.ExportOptions{
		Account: o.Account, Format: o.Format, Out: o.Out, Include: o.Folders.Match,
		Since: o.Since, Before: o.Before, IncludeDeleted: o.IncludeDeleted,
		Force: o.Force, DryRun: o.DryRun, Sync: o.Sync, LineEndings: o.LineEndings, Only: o.Only,
	}, env.Reporter)
	out.Export = r
	a := &Account{Name: r.Account, Bytes: r.Bytes, Started: r.Started, Done: r.Finished, Errors: r.Errors, Err: r.Err(),
		Counts: nonZero(Count{"exported", r.Messages}, Count{"unchanged", r.Unchanged}, Count{"warnings", r.Warnings}, Count{"errors", int64(len(r.Errors))})}
	for _, f := range r.Folders {
		a.Folders = append(a.Folders, Folder{Name: f.Name, Bytes: f.Bytes,
			Counts: []Count{{"exported", f.Messages}, {"unchanged", f.Unchanged}, {"failed", f.Failed}}})
	}
	if r.Fatal != nil {
		a.Errors = append([]error{r.Fatal}, a.Errors...)
	}
	out.Accounts = []*Account{a}
	switch {
	case r.OK():
		a.State = OK
	case r.Fatal != nil && r.Messages == 0:
		a.State = Failed
	default:
		a.State = Partial
	}
	switch {
	case errors.Is(r.Fatal, restore.ErrNotEmpty):
		out.Hint = "export into a new or empty directory, or pass --force to add to it"
	case mailfmt.DiskFull(r.Fatal):
		out.Hint = "free some space (or export fewer folders with --folder) and export into a new directory"
	}
	return out.finish(ctx.Err() != nil)
}

// ImportOptions say what to bring into the archive.
type ImportOptions struct {
	Archive string // the archive directory
	Account string
	From    string
	Format  mailfmt.Format
	Folder  string
	DryRun  bool
}

// Import brings mbox, Maildir, .eml and imap-backup mail into the archive.
func Import(ctx context.Context, env *Env, o ImportOptions) *Outcome {
	out := &Outcome{Op: "import", Started: time.Now(), DryRun: o.DryRun}
	if _, err := os.Stat(o.From); err != nil {
		return out.fail(fmt.Errorf("import from %s: %w", o.From, err)).finish(false)
	}
	var repo *archive.Repo
	if o.DryRun {
		repo = openIfThere(ctx, o.Archive) // nil: everything would be new
	} else {
		var err error
		if repo, err = env.openWriterAt(ctx, o.Archive, "", "mailkeep import"); err != nil { // seal.go
			return out.fail(err).finish(ctx.Err() != nil)
		}
	}
	if repo != nil {
		defer repo.Close()
	}
	r := backup.Import(ctx, repo, &backup.ImportOptions{
		Account: o.Account, From: o.From, Format: o.Format, Folder: o.Folder, DryRun: o.DryRun,
	}, env.Reporter)
	out.Import = r
	if repo != nil && !o.DryRun {
		run := archive.Run{Account: r.Account, Job: env.Job, Kind: "import", Started: r.Started, Finished: r.Finished,
			OK: r.OK(), Messages: r.New + r.Dup, Bytes: r.Bytes, Errors: int64(len(r.Errors))}
		run.Error = runError(ctx, run.OK, r.Err())
		if err := record(ctx, repo, run); err != nil {
			out.fail(err)
		}
	}
	a := &Account{Name: r.Account, Bytes: r.Bytes, Started: r.Started, Done: r.Finished, Errors: r.Errors, Err: r.Err(),
		Counts: nonZero(Count{"new", r.New}, Count{"seen", r.Dup}, Count{"known", r.Known}, Count{"flags", r.Flags}, Count{"errors", int64(len(r.Errors))})}
	for _, f := range r.Folders {
		a.Folders = append(a.Folders, Folder{Name: f.Name, Bytes: f.Bytes,
			Counts: []Count{{"new", f.New}, {"seen", f.Dup}, {"known", f.Known}, {"failed", f.Failed}}})
	}
	if r.Fatal != nil {
		a.Errors = append([]error{r.Fatal}, a.Errors...)
	}
	out.Accounts = []*Account{a}
	switch {
	case r.OK():
		a.State = OK
	case r.Fatal != nil && r.New+r.Dup+r.Known == 0:
		a.State = Failed
	default:
		a.State = Partial
	}
	return out.finish(ctx.Err() != nil)
}
