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
