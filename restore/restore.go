package restore

import (
	"context"
	"fmt"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// Restore APPENDs the archived mail of o.Source into the target account:
// every selected folder, with flags the target allows and INTERNALDATE.
// What the ledger or the target already holds is not copied again. It
// always returns a Result; failures are in it.
func Restore(ctx context.Context, repo *archive.Repo, t *Target, o *Options, rep progress.Reporter) *Result {
	e := newEngine(ctx, repo, t, o, rep)
	defer e.close()
	progress.Send(rep, progress.Event{Kind: progress.AccountStart, Account: t.Name})
	if _, err := repo.LookupAccount(ctx, e.o.Source); err != nil {
		e.res.Fatal = fmt.Errorf("restore %s: %w", e.o.Source, err)
	} else if err := e.start(); err != nil {
		e.res.Fatal = err
	} else if err := e.planRound(true); err != nil {
		e.res.Fatal = err
	} else if err := e.settle(nil); err != nil {
		e.res.Fatal = err
	}
	if err := e.commit(true); err != nil && e.res.Fatal == nil {
		e.res.Fatal = err
	}
	e.finish()
	progress.Send(rep, progress.Event{Kind: progress.AccountDone, Account: t.Name, Err: e.res.Err()})
	return e.res
}
