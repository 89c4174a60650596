package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/restore"
)

// RestoreOptions say what to restore where.
type RestoreOptions struct {
	Source            string // the account in the archive
	To                string // the IMAP account of the config to write into
	Folders           config.FolderFilter
	IncludeDeleted    bool
	AsOf              time.Time
	DryRun            bool
	RepairLineEndings bool
	// Only restores just these message places (search results), into
	// the folders they are in; nil: all. OnlyFolders names those folders.
	Only        map[int64]bool
	OnlyFolders map[string]bool
}

// MigrateOptions say what to copy from where to where.
type MigrateOptions struct {
	From, To          string
	Folders           config.FolderFilter
	DryRun            bool
	RepairLineEndings bool
}

func match(f config.FolderFilter) func(string, rune) bool {
	if len(f.Include) == 0 && len(f.Exclude) == 0 {
		return nil
	}
	return f.Match
}

// Restore appends the archived mail of an account into an IMAP account.
func Restore(ctx context.Context, env *Env, o RestoreOptions) *Outcome {
	out := &Outcome{Op: "restore", Started: time.Now(), DryRun: o.DryRun}
	tgt, err := env.target(o.To)
	if err != nil {
		return out.fail(err).finish(false)
	}
	var repo *archive.Repo
	if o.DryRun {
		repo, err = OpenReader(ctx, env.Config.Archive)
	} else {
		repo, err = openWriter(ctx, env, "mailkeep restore")
		if err == nil {
			repo, err = canRead(ctx, repo) // seal.go
		}
	}
	if err != nil {
		return out.fail(err).finish(ctx.Err() != nil)
	}
	defer repo.Close()
	if err := ArchiveAccount(ctx, repo, o.Source); err != nil {
		return out.fail(err).finish(false)
	}
	var spaces namespace.Wanted // the archived account's namespaces key, if it is still configured
	if a := env.Config.Accounts[o.Source]; a != nil {
		spaces = a.Namespaces
	}
	include := match(o.Folders)
	if o.Only != nil {
		// Only the folders the chosen messages are in, so that no other
		// folder is created on the target.
		inner := include
		include = func(name string, delim rune) bool {
			return o.OnlyFolders[name] && (inner == nil || inner(name, delim))
		}
	}
	res := restore.Restore(ctx, repo, tgt, &restore.Options{Source: o.Source, Include: include, Only: o.Only, Namespaces: spaces,
		IncludeDeleted: o.IncludeDeleted, AsOf: o.AsOf, DryRun: o.DryRun, RepairLineEndings: o.RepairLineEndings}, env.Reporter)
	if !o.DryRun {
		env.recordXfer(ctx, repo, res, o.To, "restore", 0)
	}
	return xferOutcome(ctx, out, res, env.Config.Accounts[o.To])
}

// Migrate copies a live account into an IMAP account, with the archive
// as its journal.
func Migrate(ctx context.Context, env *Env, o MigrateOptions) *Outcome {
	out := &Outcome{Op: "migrate", Started: time.Now(), DryRun: o.DryRun}
	if o.From == o.To {
		return out.fail(Usagef("FROM and TO are the same account")).finish(false)
	}
	from, err := env.account(o.From)
	if err != nil {
		return out.fail(err).finish(false)
	}
	tgt, err := env.target(o.To)
	if err != nil {
		return out.fail(err).finish(false)
	}
	repo, err := env.migrateArchive(ctx, o.DryRun)
	if err != nil {
		return out.fail(err).finish(ctx.Err() != nil)
	}
	defer repo.Close()
	include := match(o.Folders)
	src, err := env.migrateSource(repo, from, include, o.DryRun)
	if err != nil {
		return out.fail(err).finish(false)
	}
	ro := &restore.Options{Source: from.Name, Include: include, Namespaces: from.Namespaces, DryRun: o.DryRun,
		RepairLineEndings: o.RepairLineEndings}
	if o.DryRun {
		ro.SourceFolders = env.sourceFolders(from)
	}
	res := restore.Migrate(ctx, repo, tgt, ro, src, env.Reporter)
	if !o.DryRun {
		var read int64
		if res.Backup != nil {
			read = res.Backup.Bytes
		}
		env.recordXfer(ctx, repo, res, from.Name, "migrate", read)
	}
	return xferOutcome(ctx, out, res, env.Config.Accounts[o.To])
}

// xferOutcome is the outcome of a restore or migrate: exit 0 only when
// every source message is on the target.
func xferOutcome(ctx context.Context, out *Outcome, res *restore.Result, target *config.Account) *Outcome {
	out.Xfer = res
	in, on, copied, adopted, flags, skipped, bytes := res.Totals()
	a := &Account{Name: res.Source, Target: res.Target, Bytes: bytes, Started: res.Started, Done: res.Finished,
		Counts: []Count{{"copied", copied}, {"adopted", adopted}}}
	if flags > 0 {
		a.Counts = append(a.Counts, Count{"flags", flags})
	}
	if skipped > 0 {
		a.Counts = append(a.Counts, Count{"skipped", skipped})
	}
	if n := res.AlteredTotal(); n > 0 {
		a.Counts = append(a.Counts, Count{"altered by target", n})
	}
	failedFolders := 0
	for _, f := range res.Folders {
		a.Folders = append(a.Folders, Folder{Name: f.Target, Bytes: f.CopiedBytes, Err: f.Err, Counts: []Count{
			{"in_source", f.InSource}, {"on_target", f.OnTarget}, {"copied", f.Copied}, {"adopted", f.Adopted}}})
		if f.Err != nil {
			failedFolders++
		}
	}
	a.Errors = res.Errors
	if res.Fatal != nil {
		a.Errors = append([]error{res.Fatal}, a.Errors...)
	}
	a.Err = res.Err()
	out.Accounts = []*Account{a}
	switch {
	case res.OK():
		a.State = OK
	case res.Fatal != nil:
		a.State = Failed
		out.Err = res.Fatal
		if h := HintFor(res.Fatal); h != "" {
			out.Hint = h
		} else if strings.Contains(res.Fatal.Error(), "authentication failed") && target != nil {
			// The APPEND connections log in to the target; which secret
			// they used, never the secret itself.
			out.Err = fmt.Errorf("%w (user %s, secret from %s)", res.Fatal, target.Username, secretSource(target))
			out.Hint = loginFailed(target, res.Fatal).(*Error).Hint
		}
	case res.Backup != nil && res.Backup.Fatal != nil:
		a.State = Failed
		out.Err = res.Backup.Fatal
	case len(res.Folders) > 0 && failedFolders == len(res.Folders) && copied+adopted == 0:
		a.State = Failed
		out.Err = fmt.Errorf("%d of %d source messages are not on %s", in-on, in, res.Target)
	default:
		a.State = Partial
		out.Err = fmt.Errorf("%d of %d source messages are not on %s", in-on, in, res.Target)
		out.Hint = "the table above says which and why; a re-run tries again and copies nothing twice"
	}
	if ctx.Err() != nil {
		out.Err = nil
	}
	return out.finish(ctx.Err() != nil)
}

// recordXfer stores the run for 'mailkeep status' (and a migration's
// downloaded bytes for the source's daily budget).
func (env *Env) recordXfer(ctx context.Context, repo *archive.Repo, res *restore.Result, account, kind string, downloaded int64) {
	_, _, copied, adopted, _, _, _ := res.Totals()
	run := archive.Run{Account: account, Job: env.Job, Kind: kind, Started: res.Started, Finished: res.Finished,
		OK: res.OK(), Messages: copied + adopted, Bytes: downloaded}
	if err := res.Err(); err != nil {
		run.Error = runError(ctx, run.OK, err)
		run.Errors = 1
		if run.Error == archive.RunInterrupted {
			run.Errors = 0
		}
	}
	record(ctx, repo, run)
}

// migrateArchive opens the archive for a migration. A dry run reads it
// (or, before the first backup, an empty stand-in) and writes nothing.
func (env *Env) migrateArchive(ctx context.Context, dryRun bool) (*archive.Repo, error) {
	if !dryRun {
		repo, err := openWriter(ctx, env, "mailkeep migrate")
		if err != nil {
			return nil, err
		}
		return canRead(ctx, repo) // seal.go
	}
	repo, err := archive.Open(ctx, env.Config.Archive, nil)
	if err == nil {
		return repo, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mailkeep-dry-run-")
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { os.RemoveAll(dir) })
	repo, err = archive.Open(ctx, dir, &archive.Options{Create: true, Purpose: "mailkeep migrate --dry-run"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return repo, nil
}

// migrateSource is the backup half of a migration. A POP3 source is read
// without deleting anything, whatever its delete policy: a migration
// leaves the source as it was.
func (env *Env) migrateSource(repo *archive.Repo, a *config.Account, include func(string, rune) bool, dryRun bool) (restore.Backup, error) {
	rep := env.Reporter
	switch a.Protocol() {
	case "imap":
		dial, err := env.IMAPDialer(a)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) *backup.Result {
			return backup.IMAP(ctx, repo, &backup.IMAPAccount{Name: a.Name, Dial: dial, Include: include, DryRun: dryRun,
				Namespaces: a.Namespaces, CommitEvery: 200}, rep)
		}, nil
	case "pop3":
		dial, err := env.POP3Dialer(a)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) *backup.Result {
			return backup.POP3(ctx, repo, &backup.POP3Account{Name: a.Name, Dial: dial, DryRun: dryRun}, rep)
		}, nil
	}
	now := time.Now()
	return func(context.Context) *backup.Result {
		return &backup.Result{Account: a.Name, Started: now, Finished: now, Fatal: Usagef("account %s has no server", a.Name)}
	}, nil
}

// sourceFolders lists the live source's folders for a dry run, so that
// the mapping of folders the archive does not hold yet shows too.
func (env *Env) sourceFolders(a *config.Account) func(context.Context) ([]restore.SourceFolder, error) {
	return func(ctx context.Context) ([]restore.SourceFolder, error) {
		if a.Protocol() != "imap" {
			return []restore.SourceFolder{{Name: "INBOX"}}, nil
		}
		dial, err := env.IMAPDialer(a)
		if err != nil {
			return nil, err
		}
		c, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		opts := &imap.ListOptions{ReturnSpecialUse: c.Caps().Has(imap.CapSpecialUse)}
		list, err := c.List("", "*", opts).Collect()
		if err != nil && len(list) == 0 {
			return nil, fmt.Errorf("%s: list folders: %w", a.Name, err)
		}
		names := make([]string, len(list))
		var delim rune
		for i, l := range list {
			names[i] = l.Mailbox
			if delim == 0 {
				delim = l.Delim
			}
		}
		ns, err := namespace.Discover(c.Client, names, delim)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		var out []restore.SourceFolder
		for _, l := range list {
			if !a.Namespaces.Has(ns.Kind(l.Mailbox)) {
				continue // not backed up, so not migrated
			}
			f := restore.SourceFolder{Name: l.Mailbox, Delim: l.Delim, Kind: ns.Kind(l.Mailbox)}
			skip := false
			for _, at := range l.Attrs {
				switch at {
				case imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent:
					skip = true
				}
				if su := imapconn.SpecialUseOf(at); su != "" {
					f.SpecialUse = string(su)
				}
			}
			if !skip {
				out = append(out, f)
			}
		}
		return out, nil
	}
}
