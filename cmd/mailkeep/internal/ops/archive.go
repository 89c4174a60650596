package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// openWriter opens the configured archive for writing, creating it,
// with the config's age keys; what opening finds and fixes (permissions)
// goes to env's reporter.
func openWriter(ctx context.Context, env *Env, purpose string) (*archive.Repo, error) {
	return env.openWriterAt(ctx, env.Config.Archive, env.Config.Compression, purpose) // seal.go: with the config's age keys
}

// OpenWriter opens the archive in dir for writing, creating it. Its
// errors say what to do.
func OpenWriter(ctx context.Context, dir string, compression string, purpose string, rep progress.Reporter, seal archive.Sealer) (*archive.Repo, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &Error{Err: fmt.Errorf("archive %s: %w", dir, err)}
	}
	r, err := archive.Open(ctx, dir, &archive.Options{Create: true, Purpose: purpose, Compression: compression, Report: rep, Sealer: seal})
	if err != nil {
		e := &Error{Err: err}
		var le *archive.LockedError
		switch {
		case errors.As(err, &le):
			e.Hint = "another mailkeep is writing this archive; wait for it to finish"
		case errors.Is(err, archive.ErrNeedsRepair):
			e.Hint = repairHint(dir)
		}
		return nil, e
	}
	return r, nil
}

// repairHint says how to repair the archive in dir.
func repairHint(dir string) string {
	return "'mailkeep repair --archive " + dir + "' rebuilds the index from the data files and keeps everything it cannot explain; see README, 'Damage and repair'"
}

// OpenReader opens the archive in dir to read it.
func OpenReader(ctx context.Context, dir string) (*archive.Repo, error) {
	r, err := archive.Open(ctx, dir, nil)
	if err != nil {
		e := &Error{Err: err}
		switch {
		case strings.Contains(err.Error(), "mailkeep repair"):
			e.Hint = repairHint(dir)
		case errors.Is(err, os.ErrNotExist):
			e.Hint = "run 'mailkeep backup' first, or check 'archive:' in the config"
		}
		return nil, e
	}
	return r, nil
}

// openIfThere opens the archive to read it, or returns nil when there is
// none yet (a dry run: everything would be new).
func openIfThere(ctx context.Context, dir string) *archive.Repo {
	r, err := archive.Open(ctx, dir, nil)
	if err != nil {
		return nil
	}
	return r
}

// record stores one account's run in the history for 'mailkeep status',
// even when interrupted: what is committed is consistent.
func record(ctx context.Context, repo *archive.Repo, run archive.Run) error {
	wctx := context.WithoutCancel(ctx)
	if err := repo.RecordRun(wctx, run); err != nil {
		return err
	}
	return repo.Commit(wctx)
}

// ArchiveAccount checks that the archive holds the account: an unknown
// name is a usage error (exit 2), as for an account missing from the
// config.
func ArchiveAccount(ctx context.Context, repo *archive.Repo, name string) error {
	if _, err := repo.LookupAccount(ctx, name); err != nil {
		e := &Error{Err: err}
		if errors.Is(err, archive.ErrNotFound) {
			e.Usage, e.Hint = true, "'mailkeep ls' lists the accounts the archive holds"
		}
		return e
	}
	return nil
}
