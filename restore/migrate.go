package restore

import (
	"context"

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
		if err := e.dryRunSources(res.Backup); err != nil {
			res.Fatal = err
		} else if err := e.planRound(true); err != nil {
			res.Fatal = err
		}
		e.finish()
		return res
	}
	e.backupRunning = true
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan *backup.Result, 1)
	go func() { done <- run(bctx) }()
	// While the backup runs, what it has checkpointed is planned and
	// appended; the dispatcher asks for more every Poll interval.
	feed := func() (bool, error) {
		select {
		case res.Backup = <-done:
		default:
		}
		if err := e.planRound(false); err != nil {
			return false, err
		}
		return res.Backup == nil, nil
	}
	err := e.settle(feed)
	if err != nil {
		res.Fatal = err
		cancel()
	}
	if res.Backup == nil {
		res.Backup = <-done
	}
	e.backupRunning = false
	// A last pass over everything: flags changed on the source, messages
	// the backup re-read, and a check that all of it is on the target.
	if res.Fatal == nil && ctx.Err() == nil {
		if err := e.planRound(true); err != nil {
			res.Fatal = err
		} else if err := e.settle(nil); err != nil {
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

// dryRunSources adds what a dry run knows of the live source: its folders
// (also those the archive does not hold yet, so their mapping shows) and
// how many messages the backup would fetch into each.
func (e *engine) dryRunSources(br *backup.Result) error {
	fetch := map[string]int64{}
	if br != nil {
		for _, f := range br.Folders {
			fetch[f.Name] += f.New
		}
	}
	known := map[string]*archive.Folder{}
	if a, err := e.repo.LookupAccount(e.ctx, e.o.Source); err == nil {
		fs, err := e.committedFolders(a.ID)
		if err != nil {
			return err
		}
		for _, f := range fs {
			known[f.Name] = f
		}
	}
	if e.o.SourceFolders != nil {
		listed, err := e.o.SourceFolders(e.ctx)
		if err != nil {
			return err
		}
		for i, lf := range listed {
			if known[lf.Name] != nil {
				continue
			}
			if lf.Kind != "" && !e.o.Namespaces.Has(lf.Kind) {
				continue // not backed up, so not migrated
			}
			f := &archive.Folder{ID: -int64(i + 1), Name: lf.Name, SpecialUse: lf.SpecialUse}
			if lf.Delim != 0 {
				f.Delimiter = string(lf.Delim)
			}
			e.listed = append(e.listed, f)
		}
	}
	if err := e.refreshSources(); err != nil {
		return err
	}
	for _, sf := range e.srcList {
		sf.fetch = fetch[sf.f.Name]
	}
	return nil
}
