package archive

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Repair rebuilds what can be rebuilt of an archive from its data files
// (FORMAT.md, "Repair"):
//
//	take the write lock
//	index.db unreadable or failing its integrity check: move it aside, make a new one,
//	    copy into it every row of accounts, folders, messages, runs, ledger that can still be read
//	scan every data file: each whole, intact message (hash frame + zstd frame) is indexed
//	    (a stored message whose bytes are damaged is pointed at an intact copy if there is one)
//	an unfinished write at the end of the last data file: kept in lost+found, then cut
//	stored messages whose bytes are lost: marked missing in blobs (pack 0), and so their places;
//	    IMAP folders go back to before the first missing UID so the next backup fetches them again
//	messages no place refers to: put into account lost+found, folder recovered
//	commit; check the new index
type RepairResult struct {
	IndexMovedTo string           // where an unreadable index.db was moved ("" if it was sound)
	IndexProblem string           // why it was moved
	Salvaged     map[string]int64 // rows copied from the old index, by table
	Unsalvaged   []string         // tables (or parts) of the old index that could not be read
	Scanned      int64            // intact messages found in the data files
	Indexed      int64            // of those, messages the index did not list
	Repointed    int64            // stored messages moved to an intact copy of their bytes
	Missing      []string         // places whose message's bytes are lost ("account/folder uid N")
	Recovered    int64            // messages no place referred to, now in lost+found/recovered
	Damage       []string         // ranges of data files that hold no readable message
	KeptAside    []string         // unfinished writes moved to lost+found
	Unchecked    int64            // encrypted messages whose content could not be checked (no identity)
}

// RecoveredAccount and RecoveredFolder hold the messages repair found in
// the data files that no place refers to (their places were in a lost
// index). Export and restore them like any other account.
const (
	RecoveredAccount = "lost+found"
	RecoveredFolder  = "recovered"
)

// Repair repairs the archive in dir (see RepairResult). It takes the
// write lock like any writer.
func Repair(ctx context.Context, dir string, opts *Options) (*RepairResult, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.Create, o.ReadOnly, o.repair = false, false, true
	if o.Purpose == "" {
		o.Purpose = "mailkeep repair"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "mailkeep-archive")); err != nil {
		return nil, fmt.Errorf("%s is not a mailkeep archive (no mailkeep-archive file): %w", dir, err)
	}
	lock, err := acquireLock(ctx, dir, o.LockWait, o.Purpose)
	if err != nil {
		return nil, err
	}
	res := &RepairResult{Salvaged: map[string]int64{}}
	old, why, err := setAsideBrokenIndex(ctx, dir)
	if err != nil {
		lock.release()
		return nil, err
	}
	res.IndexMovedTo, res.IndexProblem = old, why
	o.lock = lock
	r, err := Open(ctx, dir, &o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if head, ok := readCommitFile(dir); ok && head > r.seq {
		r.seq = head // commit numbers keep growing
	}
	ctx = context.WithoutCancel(ctx)
	if old != "" {
		r.salvage(ctx, old, res)
	}
	if err := r.rebuildFromPacks(ctx, res); err != nil {
		return res, err
	}
	if err := r.Commit(ctx); err != nil {
		return res, err
	}
	if probs, err := r.CheckIndex(ctx); err != nil || len(probs) > 0 {
		return res, fmt.Errorf("the rebuilt index fails its check: %v %v", probs, err)
	}
	return res, nil
}

// rebuildFromPacks indexes every intact message of every data file and
// settles the stored messages the data files do not hold intact.
func (r *Repo) rebuildFromPacks(ctx context.Context, res *RepairResult) error {
	files, err := packFiles(r.dir)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return r.withTx(ctx, func(tx *sql.Tx) error {
		r.filter = nil // rows added here, not through putFrame (bloom.go)
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS scanned (hash BLOB NOT NULL, pack INTEGER NOT NULL,
			offset INTEGER NOT NULL, length INTEGER NOT NULL, size INTEGER NOT NULL, date INTEGER)`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM temp.scanned`); err != nil {
			return err
		}
		rows, err := r.packRows(ctx, tx)
		if err != nil {
			return err
		}
		var elsewhere string
		tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='packs_elsewhere'`).Scan(&elsewhere)
		known := map[string]bool{}
		gone := map[int64]bool{}
		for _, p := range rows {
			known[p.name] = true
			if _, ok := files[p.name]; ok {
				continue
			}
			if elsewhere == "1" && p.sealed {
				// An archive made from an off-site index: its messages
				// are in the off-site copy; keep them as they are.
				if _, err := tx.ExecContext(ctx, `INSERT INTO temp.scanned SELECT hash, pack, offset, length, size, NULL
					FROM blobs WHERE pack=?`, p.id); err != nil {
					return err
				}
				continue
			}
			gone[p.id] = true
			res.Damage = append(res.Damage, fmt.Sprintf("data file %s is missing", p.name))
		}
		for i, name := range names {
			id := packID(name)
			path := filepath.Join(r.dir, "data", name)
			sr, err := r.scanPack(path, 0)
			if err != nil {
				return fmt.Errorf("scan %s: %w", path, err)
			}
			end := sr.Size
			last := i == len(names)-1
			for _, g := range sr.Gaps {
				if last && g.Start == sr.Incomplete {
					continue
				}
				res.Damage = append(res.Damage, fmt.Sprintf("%s: bytes %d to %d hold no readable message (%s)", name, g.Start, g.End, g.Why))
			}
			if last && sr.Incomplete >= 0 {
				// The last data file ends in an unfinished write: keep the
				// bytes, but out of the way of the next writer.
				kept, err := r.keepAside(path, sr.Incomplete, sr.Size)
				if err != nil {
					return err
				}
				res.KeptAside = append(res.KeptAside, fmt.Sprintf("%d bytes at the end of %s, now %s", sr.Size-sr.Incomplete, name, kept))
				end = sr.Incomplete
			}
			for _, m := range sr.Messages {
				if m.End() > end {
					break
				}
				if m.Unchecked {
					res.Unchecked++
				}
				res.Scanned++
				if _, err := tx.ExecContext(ctx, `INSERT INTO temp.scanned VALUES(?,?,?,?,?,?)`, m.Hash[:], id, m.Offset, m.Length, m.Size,
					headerDate(m.Header.Date)); err != nil {
					return err
				}
			}
			if known[name] {
				_, err = tx.ExecContext(ctx, `UPDATE packs SET size=?, sealed=? WHERE id=?`, end, !last, id)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO packs(id, name, size, sealed) VALUES(?,?,?,?)`, id, name, end, !last)
			}
			if err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS temp.scanned_hash ON scanned(hash)`); err != nil {
			return err
		}
		if err := settleBlobs(ctx, tx, res); err != nil {
			return err
		}
		for _, p := range rows {
			// A data file that is gone took its messages with it; the
			// number is free again.
			if gone[p.id] {
				if _, err := tx.ExecContext(ctx, `DELETE FROM packs WHERE id=?`, p.id); err != nil {
					return err
				}
			}
		}
		return r.settlePlaces(ctx, tx, res)
	})
}

// settleBlobs points every blob row at an intact copy of its message, or
// marks it missing (pack 0) when there is none, and adds the messages the
// index lacks.
func settleBlobs(ctx context.Context, tx *sql.Tx, res *RepairResult) error {
	bad, err := tx.QueryContext(ctx, `SELECT id FROM blobs b WHERE b.pack<>0 AND NOT EXISTS (SELECT 1 FROM temp.scanned s
		WHERE s.hash=b.hash AND s.pack=b.pack AND s.offset=b.offset AND s.length=b.length)`)
	if err != nil {
		return err
	}
	var ids []int64
	for bad.Next() {
		var id int64
		if err := bad.Scan(&id); err != nil {
			bad.Close()
			return err
		}
		ids = append(ids, id)
	}
	bad.Close()
	if err := bad.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		r, err := tx.ExecContext(ctx, `UPDATE blobs SET (pack, offset, length, size) =
			(SELECT pack, offset, length, size FROM temp.scanned s WHERE s.hash=blobs.hash AND s.size>=0 ORDER BY pack, offset LIMIT 1)
			WHERE id=? AND EXISTS (SELECT 1 FROM temp.scanned s WHERE s.hash=blobs.hash AND s.size>=0)`, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n > 0 {
			res.Repointed++
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET pack=0, offset=0, length=0 WHERE id=?`, id); err != nil {
			return err
		}
	}
	// Missing messages whose copy the scan found, then messages the index
	// has no row for.
	r, err := tx.ExecContext(ctx, `UPDATE blobs SET (pack, offset, length, size) =
		(SELECT pack, offset, length, size FROM temp.scanned s WHERE s.hash=blobs.hash AND s.size>=0 ORDER BY pack, offset LIMIT 1)
		WHERE pack=0 AND EXISTS (SELECT 1 FROM temp.scanned s WHERE s.hash=blobs.hash AND s.size>=0)`)
	if err != nil {
		return err
	}
	res.Indexed, _ = r.RowsAffected()
	r, err = tx.ExecContext(ctx, `INSERT INTO blobs(hash, pack, offset, length, size)
		SELECT hash, pack, offset, length, size
		FROM temp.scanned s WHERE s.rowid = (SELECT min(rowid) FROM temp.scanned t WHERE t.hash=s.hash AND t.size>=0)
		AND NOT EXISTS (SELECT 1 FROM blobs b WHERE substr(b.hash,1,8)=substr(s.hash,1,8) AND b.hash=s.hash)`)
	if err != nil {
		return err
	}
	n, _ := r.RowsAffected()
	res.Indexed += n
	return nil
}

// settlePlaces marks the places whose message is not stored as missing
// (so backups fetch them again) and gives a place to every stored message
// that has none.
func (r *Repo) settlePlaces(ctx context.Context, tx *sql.Tx, res *RepairResult) error {
	// A place whose blob row was lost with a damaged page of the old
	// index: its message is unknown (hash X''), and missing.
	if _, err := tx.ExecContext(ctx, `INSERT INTO blobs(id, hash, pack, offset, length, size)
		SELECT m.blob, X'', 0, 0, 0, max(m.size) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id=m.blob)
		GROUP BY m.blob`); err != nil {
		return err
	}
	missing, err := markMissing(ctx, tx)
	if err != nil {
		return err
	}
	res.Missing = missing
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM blobs b WHERE b.pack<>0 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob=b.id)`).Scan(&n); err != nil || n == 0 {
		return err
	}
	now := r.clock().Unix()
	if _, err := tx.ExecContext(ctx, `INSERT INTO accounts(name, protocol, created_at) VALUES(?, 'import', ?) ON CONFLICT(name) DO NOTHING`,
		RecoveredAccount, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO folders(account, name, first_seen, last_seen)
		SELECT id, ?, ?, ? FROM accounts WHERE name=? ON CONFLICT(account, name) DO NOTHING`, RecoveredFolder, now, now, RecoveredAccount); err != nil {
		return err
	}
	// Dated by their Date: header (tz NULL), as the scan read it.
	ins, err := tx.ExecContext(ctx, `INSERT INTO messages(folder, uidvalidity, uid, uidl, blob, size, date, first_seen)
		SELECT (SELECT f.id FROM folders f JOIN accounts a ON a.id=f.account WHERE a.name=? AND f.name=?), 0, 0,
			'repair:' || lower(hex(b.hash)), b.id, b.size,
			(SELECT s.date FROM temp.scanned s WHERE s.hash=b.hash AND s.date IS NOT NULL LIMIT 1), ?
		FROM blobs b WHERE b.pack<>0 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob=b.id)`, RecoveredAccount, RecoveredFolder, now)
	if err != nil {
		return err
	}
	res.Recovered, _ = ins.RowsAffected()
	return nil
}

// missingSQL is the condition on messages m of a place whose message is
// not stored.
const missingSQL = `coalesce((SELECT b.pack FROM blobs b WHERE b.id=m.blob), 0)=0`

// markMissing deals with the places whose message is not stored (its
// bytes were lost): each IMAP folder's checkpoint goes back to before its
// first such UID, so that the next backup fetches it again from the
// server. (POP3 and import places without a stored message already count
// as not archived.) It returns the places, described.
func markMissing(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT a.name, f.name, m.uidvalidity, m.uid, m.uidl FROM messages m
		JOIN folders f ON f.id=m.folder JOIN accounts a ON a.id=f.account
		WHERE `+missingSQL+` ORDER BY a.name, f.name, m.uid`)
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var acct, folder, uidl string
		var uv, uid uint32
		if err := rows.Scan(&acct, &folder, &uv, &uid, &uidl); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, placeName(acct, folder, uv, uid, uidl))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE folders SET highest_modseq=0, last_uid=min(last_uid, (SELECT min(m.uid)-1 FROM messages m
		WHERE m.folder=folders.id AND m.uidvalidity=folders.uidvalidity AND m.uidl='' AND m.uid>0 AND m.gone_since=0
		AND `+missingSQL+`))
		WHERE EXISTS (SELECT 1 FROM messages m WHERE m.folder=folders.id AND m.uidvalidity=folders.uidvalidity AND m.uidl='' AND m.uid>0 AND m.gone_since=0
		AND `+missingSQL+`)`)
	return out, err
}

func placeName(acct, folder string, uv, uid uint32, uidl string) string {
	if uidl != "" {
		return fmt.Sprintf("%s/%s uidl %s", acct, folder, uidl)
	}
	return fmt.Sprintf("%s/%s uidvalidity %d uid %d", acct, folder, uv, uid)
}

// MarkMissing records that the stored copies of these messages are
// damaged (verify found them so): they no longer count as archived, and
// the next backup stores them again from the servers that still hold them.
// It returns the places that held them.
func (r *Repo) MarkMissing(ctx context.Context, hashes []Hash) ([]string, error) {
	var out []string
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		for _, h := range hashes {
			if _, err := tx.ExecContext(context.WithoutCancel(ctx), `UPDATE blobs SET pack=0, offset=0, length=0
				WHERE substr(hash,1,8)=substr(?1,1,8) AND hash=?1`, h[:]); err != nil {
				return err
			}
		}
		var err error
		out, err = markMissing(context.WithoutCancel(ctx), tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("index: mark missing: %w", err)
	}
	return out, nil
}
