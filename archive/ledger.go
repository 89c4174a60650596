package archive

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// The ledger records what restore and migrate put where: one row per
// message known to be in a target folder, with the target's UIDVALIDITY and
// UID (APPENDUID, or found afterwards), the archived hash and the message
// place (messages.id) it stands for. APPEND is not idempotent; the ledger
// is what makes a re-run copy nothing twice.
//
// Schema additions, made on first use by a writer and invisible to readers
// that do not know them (the format version stays 1):
//
//	ALTER TABLE ledger ADD COLUMN flags TEXT NOT NULL DEFAULT ''
//	    -- the source flags last carried over to the target (JoinFlags form)

// LedgerEntry is one ledger row.
type LedgerEntry struct {
	ID          int64
	Target      string // target account name
	Folder      string // target folder name
	UIDValidity uint32
	UID         uint32
	Hash        Hash
	Source      int64  // messages.id of the place it was copied for
	How         string // LedgerAppend or LedgerAdopt
	Flags       string // source flags last carried over (JoinFlags form)
	At          time.Time
}

// How a message came to be in the ledger.
const (
	LedgerAppend = "append" // mailkeep appended it
	LedgerAdopt  = "adopt"  // it was already there and was matched, not appended
)

// ledgerReady remembers the repositories whose ledger has the flags column.
var ledgerReady sync.Map // *Repo -> bool (true: column present)

// ledgerFlagsColumn reports whether the ledger has its flags column, adding
// it first when write is set.
func (r *Repo) ledgerFlagsColumn(ctx context.Context, write bool) (bool, error) {
	if v, ok := ledgerReady.Load(r); ok && (v.(bool) || !write) {
		return v.(bool), nil
	}
	has := false
	check := func(q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}) error {
		rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info('ledger')`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			if n == "flags" {
				has = true
			}
		}
		return rows.Err()
	}
	if !write {
		if err := check(r.rdb); err != nil {
			return false, fmt.Errorf("index: ledger: %w", err)
		}
		ledgerReady.Store(r, has)
		return has, nil
	}
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		if !has {
			if _, err := tx.ExecContext(context.WithoutCancel(ctx), `ALTER TABLE ledger ADD COLUMN flags TEXT NOT NULL DEFAULT ''`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("index: ledger: %w", err)
	}
	ledgerReady.Store(r, true)
	return true, nil
}

// Ledger returns the rows of one target folder under one UIDVALIDITY, by
// UID. A writer sees its own uncommitted rows.
func (r *Repo) Ledger(ctx context.Context, target, folder string, uidvalidity uint32) ([]LedgerEntry, error) {
	has, err := r.ledgerFlagsColumn(ctx, false)
	if err != nil {
		return nil, err
	}
	flags := `''`
	if has {
		flags = `flags`
	}
	rows, err := r.query(ctx, `SELECT id, uid, hash, source, how, `+flags+`, at FROM ledger
		WHERE target=? AND folder=? AND uidvalidity=? ORDER BY uid, id`, target, folder, uidvalidity)
	if err != nil {
		return nil, fmt.Errorf("index: ledger %s/%s: %w", target, folder, err)
	}
	defer rows.Close()
	var out []LedgerEntry
	for rows.Next() {
		e := LedgerEntry{Target: target, Folder: folder, UIDValidity: uidvalidity}
		var hash []byte
		var at int64
		if err := rows.Scan(&e.ID, &e.UID, &hash, &e.Source, &e.How, &e.Flags, &at); err != nil {
			return nil, err
		}
		copy(e.Hash[:], hash)
		e.At = fromUnix(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AddLedger records a message in a target folder and sets e.ID.
func (r *Repo) AddLedger(ctx context.Context, e *LedgerEntry) error {
	if _, err := r.ledgerFlagsColumn(ctx, true); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = r.Now()
	}
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(context.WithoutCancel(ctx), `INSERT INTO ledger(target, folder, uidvalidity, uid, hash, source, how, at, flags)
			VALUES(?,?,?,?,?,?,?,?,?)`, e.Target, e.Folder, e.UIDValidity, e.UID, e.Hash[:], e.Source, e.How, e.At.Unix(), e.Flags)
		if err != nil {
			return err
		}
		e.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return fmt.Errorf("index: ledger %s/%s uid %d: %w", e.Target, e.Folder, e.UID, err)
	}
	return nil
}

// UpdateLedger changes the place a ledger row stands for and the flags
// last carried over.
func (r *Repo) UpdateLedger(ctx context.Context, id, source int64, flags string) error {
	if _, err := r.ledgerFlagsColumn(ctx, true); err != nil {
		return err
	}
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.WithoutCancel(ctx), `UPDATE ledger SET source=?, flags=? WHERE id=?`, source, flags, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: ledger row %d: %w", id, err)
	}
	return nil
}

// ForgetLedger deletes ledger rows whose messages are known to be gone
// from the target (their UID no longer exists under that UIDVALIDITY).
func (r *Repo) ForgetLedger(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return r.withTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(context.WithoutCancel(ctx), `DELETE FROM ledger WHERE id=?`, id); err != nil {
				return fmt.Errorf("index: ledger row %d: %w", id, err)
			}
		}
		return nil
	})
}
