package archive

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// PendingDelete is a message that cleanup is about to flag, or has
// flagged, \Deleted on the server and has not yet seen expunged. The row
// is committed before the UID STORE, so a run killed between STORE and
// EXPUNGE leaves a record of which \Deleted flags are mailkeep's own.
type PendingDelete struct {
	Folder      int64
	UIDValidity uint32
	UID         uint32
	Hash        Hash
	Flags       []string // the message's flags before \Deleted was added
	Since       time.Time
}

// pendingSQL is created on first use: archives written before cleanup
// existed simply have no such table (readers treat that as empty).
const pendingSQL = `CREATE TABLE IF NOT EXISTS pending_deletes (
	folder      INTEGER NOT NULL REFERENCES folders(id),
	uidvalidity INTEGER NOT NULL,
	uid         INTEGER NOT NULL,
	hash        BLOB NOT NULL,
	flags       TEXT NOT NULL DEFAULT '',
	since       INTEGER NOT NULL,
	PRIMARY KEY(folder, uidvalidity, uid)
)`

// AddPendingDeletes records intents to delete (committed at the next
// Commit, which must come before the STORE).
func (r *Repo) AddPendingDeletes(ctx context.Context, ps []PendingDelete) error {
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(context.WithoutCancel(ctx), pendingSQL); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO pending_deletes(folder, uidvalidity, uid, hash, flags, since) VALUES(?,?,?,?,?,?)
			ON CONFLICT(folder, uidvalidity, uid) DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, p := range ps {
			if _, err := ins.ExecContext(ctx, p.Folder, p.UIDValidity, p.UID, p.Hash[:], JoinFlags(p.Flags), p.Since.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: pending deletes: %w", err)
	}
	return nil
}

// PendingDeletes lists the recorded intents for a folder, by UID.
func (r *Repo) PendingDeletes(ctx context.Context, folder int64) ([]PendingDelete, error) {
	rows, err := r.query(ctx, `SELECT folder, uidvalidity, uid, hash, flags, since FROM pending_deletes WHERE folder=? ORDER BY uidvalidity, uid`, folder)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil
		}
		return nil, fmt.Errorf("index: pending deletes: %w", err)
	}
	defer rows.Close()
	var out []PendingDelete
	for rows.Next() {
		var p PendingDelete
		var hash []byte
		var flags string
		var since int64
		if err := rows.Scan(&p.Folder, &p.UIDValidity, &p.UID, &hash, &flags, &since); err != nil {
			return nil, err
		}
		copy(p.Hash[:], hash)
		p.Flags = SplitFlags(flags)
		p.Since = fromUnix(since)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ClearPendingDeletes drops intents that will not be carried out (the
// message was not flagged, or mailkeep took its \Deleted flag off again).
// The archived flags of those places go back to the ones recorded with
// the intent.
func (r *Repo) ClearPendingDeletes(ctx context.Context, folder int64, uidvalidity uint32, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		st, err := preparePending(ctx, tx, false)
		if err != nil {
			return err
		}
		defer st.close()
		for _, uid := range uids {
			if err := st.apply(ctx, folder, uidvalidity, uid, time.Time{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: pending deletes: %w", err)
	}
	return nil
}

// pendingStmts are the statements that settle one intent, prepared
// once per call (preparing is most of the cost of a statement).
type pendingStmts struct {
	flagset, restore, gone, del *sql.Stmt
}

func preparePending(ctx context.Context, tx *sql.Tx, gone bool) (*pendingStmts, error) {
	if _, err := tx.ExecContext(context.WithoutCancel(ctx), pendingSQL); err != nil {
		return nil, err
	}
	st := &pendingStmts{}
	var err error
	// The archived flags go back to those recorded with the intent: a
	// backup in between may have stored \Deleted.
	st.flagset, err = tx.PrepareContext(ctx, `INSERT INTO flagsets(flags) SELECT p.flags FROM pending_deletes p
		WHERE p.folder=? AND p.uidvalidity=? AND p.uid=? AND p.flags<>'' ON CONFLICT(flags) DO NOTHING`)
	if err == nil {
		st.restore, err = tx.PrepareContext(ctx, `UPDATE messages SET flags=coalesce((SELECT fs.id FROM pending_deletes p
			JOIN flagsets fs ON fs.flags=p.flags WHERE p.folder=messages.folder AND p.uidvalidity=messages.uidvalidity AND p.uid=messages.uid), 0)
		WHERE folder=? AND uidvalidity=? AND uid=? AND uidl='' AND EXISTS (SELECT 1 FROM pending_deletes p
			WHERE p.folder=messages.folder AND p.uidvalidity=messages.uidvalidity AND p.uid=messages.uid)`)
	}
	if err == nil && gone {
		st.gone, err = tx.PrepareContext(ctx, `UPDATE messages SET gone_since=CASE WHEN gone_since=0 THEN ? ELSE gone_since END, gone_reason=?
			WHERE folder=? AND uidvalidity=? AND uid=? AND uidl='' AND (gone_since=0 OR gone_reason IN ('', ?))`)
	}
	if err == nil {
		st.del, err = tx.PrepareContext(ctx, `DELETE FROM pending_deletes WHERE folder=? AND uidvalidity=? AND uid=?`)
	}
	if err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

func (st *pendingStmts) apply(ctx context.Context, folder int64, uidvalidity, uid uint32, goneAt time.Time) error {
	if _, err := st.flagset.ExecContext(ctx, folder, uidvalidity, uid); err != nil {
		return err
	}
	if _, err := st.restore.ExecContext(ctx, folder, uidvalidity, uid); err != nil {
		return err
	}
	if st.gone != nil {
		if _, err := st.gone.ExecContext(ctx, goneAt.Unix(), GoneCleanup, folder, uidvalidity, uid, GoneExpunged); err != nil {
			return err
		}
	}
	_, err := st.del.ExecContext(ctx, folder, uidvalidity, uid)
	return err
}

func (st *pendingStmts) close() {
	for _, s := range []*sql.Stmt{st.flagset, st.restore, st.gone, st.del} {
		if s != nil {
			s.Close()
		}
	}
}

// MarkCleanedUp records that cleanup removed these messages from the
// server: gone since at with reason GoneCleanup. A place a backup has
// meanwhile marked GoneExpunged (a run interrupted after its EXPUNGE)
// gets the reason GoneCleanup too. Flags go back to those recorded with
// the intent, and the intents are dropped, in the same transaction.
func (r *Repo) MarkCleanedUp(ctx context.Context, folder int64, uidvalidity uint32, uids []uint32, at time.Time) error {
	if len(uids) == 0 {
		return nil
	}
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		st, err := preparePending(ctx, tx, true)
		if err != nil {
			return err
		}
		defer st.close()
		for _, uid := range uids {
			if err := st.apply(ctx, folder, uidvalidity, uid, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: mark cleaned up: %w", err)
	}
	return nil
}
