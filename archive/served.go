package archive

import (
	"context"
	"fmt"
)

// ArchiveID names this archive for clients that cache what they saw of
// it (serve derives UIDVALIDITY from it): its creation time, which never
// changes (a pulled copy keeps it).
func (r *Repo) ArchiveID(ctx context.Context) (string, error) {
	var created string
	if err := r.rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='created_at'`).Scan(&created); err != nil {
		return "", fmt.Errorf("index: %w", err)
	}
	return created, nil
}

// CommitSeq is the number of the index's last commit (meta commit_seq):
// it changes whenever a writer commits, so a reader that saw it before
// knows whether anything can have changed since.
func (r *Repo) CommitSeq(ctx context.Context) (int64, error) {
	var v int64
	if err := r.rdb.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key='commit_seq'`).Scan(&v); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return v, nil
}
