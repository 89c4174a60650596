package main

import (
	"context"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// backupPOP3 backs up one POP3 account: its maildrop goes into the
// archive folder INBOX, and the account's delete or delete_after policy
// decides what leaves the server afterwards.
func (g *globals) backupPOP3(ctx context.Context, repo *archive.Repo, a *config.Account, dryRun bool, rep progress.Reporter) *backup.Result {
	dial, err := g.pop3Dialer(a)
	if err != nil {
		now := time.Now()
		progress.Send(rep, progress.Event{Kind: progress.Failed, Account: a.Name, Err: err})
		return &backup.Result{Account: a.Name, Started: now, Finished: now, Fatal: err, DryRun: dryRun}
	}
	pa := &backup.POP3Account{Name: a.Name, Dial: dial, Delete: a.Delete, DryRun: dryRun}
	if !a.Delete && !a.DeleteAfter.IsZero() {
		pa.DeleteBefore = a.DeleteAfter.Before
	}
	return backup.POP3(ctx, repo, pa, rep)
}
