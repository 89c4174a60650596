package restore

import (
	"context"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// Backup runs the source side of a migration: it brings the source
// account into the archive (backup.IMAP, or a POP3 backup) and returns
// when done. It must checkpoint (repo.Commit) as it goes: Migrate copies
// what is committed.
type Backup func(ctx context.Context) *backup.Result

// Migrate copies a live account into the target: run backs the source up
// into the archive while what it has checkpointed is already being
// appended to the target, so both servers are busy at once. The archive
// is the journal: killed at any point, the next run resumes, copying
// nothing twice. A final pass over everything carries over flags changed
// on the source and checks that every source message is on the target.
func Migrate(ctx context.Context, repo *archive.Repo, t *Target, o *Options, run Backup, rep progress.Reporter) *Result {
	e := newEngine(ctx, repo, t, o, rep)
	defer e.close()
	res := e.res
	progress.Send(rep, progress.Event{Kind: progress.AccountStart, Account: t.Name})
	defer func() {
		progress.Send(rep, progress.Event{Kind: progress.AccountDone, Account: t.Name, Err: res.Err()})
	}()
	// The target first: a wrong password there stops the run before the
	// source is read at all.
	if err := e.start(); err != nil {
		res.Fatal = err
		e.finish()
		return res
	}
	if o.DryRun {
		res.Backup = run(ctx)
		if err := e.round(true); err != nil {
			res.Fatal = err
		}
		e.finish()
		return res
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan *backup.Result, 1)
	go func() { done <- run(bctx) }()
	poll := o.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for res.Backup == nil {
		select {
		case res.Backup = <-done:
		case <-timer.C:
			if err := e.round(false); err != nil {
				res.Fatal = err
				cancel()
				res.Backup = <-done
				break
			}
			timer.Reset(poll)
		}
	}
	if res.Fatal == nil && ctx.Err() == nil {
		if err := e.round(true); err != nil {
			res.Fatal = err
		}
	}
	if err := e.commit(true); err != nil && res.Fatal == nil {
		res.Fatal = err
	}
	if res.Fatal == nil && ctx.Err() != nil {
		res.Fatal = ctx.Err()
	}
	e.finish()
	return res
}
