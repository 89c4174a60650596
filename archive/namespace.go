package archive

import (
	"context"
	"database/sql"
	"fmt"
)

// What an account's server said about its namespaces (RFC 2342 NAMESPACE:
// the prefix of the user's own folders, of other users' and of public
// ones) is kept as one row of the meta table, key "namespaces:" + account
// name, value an opaque text written by the caller (internal/namespace).
// It lets readers show folder names as the backup saw them (the personal
// prefix "INBOX." taken off) and tell the account's own folders from
// others'. A missing row means an archive written before it was kept.

func namespaceKey(account string) string { return "namespaces:" + account }

// SetNamespaces records what the account's server said about its
// namespaces, replacing what was there.
func (r *Repo) SetNamespaces(ctx context.Context, account, text string) error {
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.WithoutCancel(ctx), `INSERT INTO meta(key, value) VALUES(?, ?)
			ON CONFLICT(key) DO UPDATE SET value=excluded.value`, namespaceKey(account), text)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: namespaces of %s: %w", account, err)
	}
	return nil
}

// Namespaces returns what SetNamespaces recorded for the account, "" if
// nothing.
func (r *Repo) Namespaces(ctx context.Context, account string) (string, error) {
	rows, err := r.query(ctx, `SELECT value FROM meta WHERE key=?`, namespaceKey(account))
	if err != nil {
		return "", fmt.Errorf("index: namespaces of %s: %w", account, err)
	}
	defer rows.Close()
	var v string
	if rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return "", fmt.Errorf("index: namespaces of %s: %w", account, err)
		}
	}
	return v, rows.Err()
}
