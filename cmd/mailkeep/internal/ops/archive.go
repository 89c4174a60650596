package ops

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
)

// openWriter opens the configured archive for writing, creating it.
func openWriter(ctx context.Context, cfg *config.Config, purpose string) (*archive.Repo, error) {
	repo, err := OpenWriter(ctx, cfg.Archive, cfg.Compression, purpose)
	if err != nil {
		return nil, err
	}
	return seal(repo, cfg) // seal.go: the config's age keys
}

// OpenWriter opens the archive in dir for writing, creating it. Its
// errors say what to do.
func OpenWriter(ctx context.Context, dir string, compression string, purpose string) (*archive.Repo, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &Error{Err: fmt.Errorf("archive %s: %w", dir, err)}
	}
	r, err := archive.Open(ctx, dir, &archive.Options{Create: true, Purpose: purpose, Compression: compression})
	if err != nil {
		e := &Error{Err: err}
		var le *archive.LockedError
		if errors.As(err, &le) {
			e.Hint = "another mailkeep is writing this archive; wait for it to finish"
		}
		return nil, e
	}
	return r, nil
}

// OpenReader opens the archive in dir to read it.
func OpenReader(ctx context.Context, dir string) (*archive.Repo, error) {
	r, err := archive.Open(ctx, dir, nil)
	if err != nil {
		e := &Error{Err: err}
		if errors.Is(err, os.ErrNotExist) {
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
