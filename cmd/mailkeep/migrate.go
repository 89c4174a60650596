package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/restore"
)

func init() { subcommands = append(subcommands, newMigrateCmd) }

func newMigrateCmd(g *globals) *cobra.Command {
	var x xferFlags
	cmd := &cobra.Command{
		Use:   "migrate FROM TO",
		Short: "Copy a live IMAP or POP3 account into an IMAP account",
		Long: `Copies everything in account FROM (IMAP or POP3) into the IMAP account TO:
folders, flags, dates. FROM is backed up into the archive while what is
already archived is being appended to TO, so both servers work at once;
the archive is the journal that makes the copy resumable.

Run it as often as you like, before and after the switch-over: each run
copies only what is new and carries over flags changed on FROM since the
last run. Nothing is ever copied twice, also after an interruption or a
crash, and nothing is deleted on either side (messages deleted on FROM
stay on TO). Folder mapping, adoption of mail already on TO and the final
table are as for 'mailkeep restore'. The exit status is 0 only when every
message of FROM is on TO.

--folder/--exclude choose FROM's folders (the migrate job's folders: in a
configuration file); TO's folder_map renames them.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			include, err := x.filter()
			if err != nil {
				return err
			}
			if args[0] == args[1] {
				return usageErr("FROM and TO are the same account")
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			froms, err := pickAccounts(cfg, args[:1])
			if err != nil {
				return err
			}
			from := froms[0]
			tgt, err := g.restoreTarget(cfg, args[1])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			repo, err := g.migrateArchive(ctx, cfg, x.dryRun)
			if err != nil {
				return err
			}
			defer repo.Close()
			tuneGC()
			u := newUI(g, "archived")
			run, err := g.migrateSource(repo, from, include, x.dryRun, u)
			if err != nil {
				return err
			}
			opts := &restore.Options{Source: from.Name, Include: include, DryRun: x.dryRun, RepairLineEndings: x.repair}
			if x.dryRun {
				opts.SourceFolders = g.sourceFolders(from)
			}
			res := restore.Migrate(ctx, repo, tgt, opts, run, u)
			if !x.dryRun {
				var read int64
				if res.Backup != nil {
					read = res.Backup.Bytes
				}
				g.recordXfer(repo, res, from.Name, "migrate", read)
			}
			g.printReconciliation("migrate", res)
			return xferExit(ctx, res)
		},
	}
	x.add(cmd)
	return cmd
}

// migrateArchive opens the archive for a migration. A dry run reads it
// (or, before the first backup, an empty stand-in) and writes nothing.
func (g *globals) migrateArchive(ctx context.Context, cfg *config.Config, dryRun bool) (*archive.Repo, error) {
	if !dryRun {
		return openArchive(ctx, cfg, "mailkeep migrate")
	}
	repo, err := archive.Open(ctx, cfg.Archive, nil)
	if err == nil {
		return repo, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, &exitError{code: exitFailed, err: err}
	}
	dir, err := os.MkdirTemp("", "mailkeep-dry-run-")
	if err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	context.AfterFunc(ctx, func() { os.RemoveAll(dir) })
	repo, err = archive.Open(ctx, dir, &archive.Options{Create: true, Purpose: "mailkeep migrate --dry-run"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, &exitError{code: exitFailed, err: err}
	}
	return repo, nil
}

// migrateSource is the backup half of a migration. A POP3 source is read
// without deleting anything, whatever its delete policy: a migration
// leaves the source as it was.
func (g *globals) migrateSource(repo *archive.Repo, a *config.Account, include func(string, rune) bool, dryRun bool, rep progress.Reporter) (restore.Backup, error) {
	switch a.Protocol() {
	case "imap":
		dial, err := g.imapDialer(a)
		if err != nil {
			return nil, &exitError{code: exitUsage, err: err}
		}
		return func(ctx context.Context) *backup.Result {
			return backup.IMAP(ctx, repo, &backup.IMAPAccount{Name: a.Name, Dial: dial, Include: include, DryRun: dryRun,
				CommitEvery: 200}, rep)
		}, nil
	case "pop3":
		dial, err := g.pop3Dialer(a)
		if err != nil {
			return nil, &exitError{code: exitUsage, err: err}
		}
		return func(ctx context.Context) *backup.Result {
			return backup.POP3(ctx, repo, &backup.POP3Account{Name: a.Name, Dial: dial, DryRun: dryRun}, rep)
		}, nil
	}
	now := time.Now()
	return func(context.Context) *backup.Result {
		return &backup.Result{Account: a.Name, Started: now, Finished: now, Fatal: usageErr("account %s has no server", a.Name)}
	}, nil
}

// sourceFolders lists the live source's folders for a dry run, so that
// the mapping of folders the archive does not hold yet shows too.
func (g *globals) sourceFolders(a *config.Account) func(context.Context) ([]restore.SourceFolder, error) {
	return func(ctx context.Context) ([]restore.SourceFolder, error) {
		if a.Protocol() != "imap" {
			return []restore.SourceFolder{{Name: "INBOX"}}, nil
		}
		dial, err := g.imapDialer(a)
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
		var out []restore.SourceFolder
		for _, l := range list {
			f := restore.SourceFolder{Name: l.Mailbox, Delim: l.Delim}
			skip := false
			for _, at := range l.Attrs {
				switch at {
				case imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent:
					skip = true
				case imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk,
					imap.MailboxAttrArchive, imap.MailboxAttrAll, imap.MailboxAttrFlagged:
					f.SpecialUse = string(at)
				}
			}
			if !skip {
				out = append(out, f)
			}
		}
		return out, nil
	}
}
