package archive

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
)

// folder_stats keeps, per folder, the figures of Stats (ls, status,
// serve), so that they read a row a folder instead of every place: at
// 1,000,000 places one pass over messages took 1.2 s, and the compressed
// sizes (a blobs lookup per place) 6 s.
//
// It holds the places whose id is at most meta folder_stats (the "mark").
// A writer's Commit folds the places added since into it, in the
// transaction that adds them (foldStats: one statement, a few µs a new
// place; a trigger on every insert cost twice that). Readers add the
// places past the mark themselves (none, unless a writer other than
// Commit added some), so the figures are exact whoever wrote.
//
// Changes to places already folded in: triggers adjust the counts when a
// place is marked gone (or back), and the stored bytes when a blob's
// length changes (a missing message, pack 0 and length 0, stored again;
// verify or repair dropping a copy; repair --encrypt moving it). Anything
// rarer (a place deleted, or moved to another folder or message; a blob
// row deleted) deletes the mark: readers then compute everything from
// messages (folderFiguresSQL, slow) until a writer fills the table again
// (its next Commit, or when one opens).
const folderStatsSQL = `
CREATE TABLE IF NOT EXISTS folder_stats (
	folder     INTEGER PRIMARY KEY,
	places     INTEGER NOT NULL DEFAULT 0,
	kept       INTEGER NOT NULL DEFAULT 0,
	off_server INTEGER NOT NULL DEFAULT 0,
	kept_size  INTEGER NOT NULL DEFAULT 0,
	stored     INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER IF NOT EXISTS folder_stats_gone AFTER UPDATE OF gone_since, gone_reason, size ON messages
WHEN (` + keptOld + `<>` + keptNew + ` OR ` + offOld + `<>` + offNew + ` OR OLD.size<>NEW.size)
	AND OLD.folder=NEW.folder AND OLD.id<=` + markSQL + ` BEGIN
	UPDATE folder_stats SET kept=kept-` + keptOld + `+` + keptNew + `, off_server=off_server-` + offOld + `+` + offNew + `,
		kept_size=kept_size-(CASE WHEN ` + keptOld + ` THEN OLD.size ELSE 0 END)+(CASE WHEN ` + keptNew + ` THEN NEW.size ELSE 0 END)
	WHERE folder=NEW.folder;
END;
CREATE TRIGGER IF NOT EXISTS folder_stats_msg_del AFTER DELETE ON messages WHEN OLD.id<=` + markSQL + ` BEGIN
	DELETE FROM meta WHERE key='` + folderStatsKey + `';
END;
CREATE TRIGGER IF NOT EXISTS folder_stats_msg_move AFTER UPDATE OF folder, blob ON messages
WHEN (OLD.folder<>NEW.folder OR OLD.blob<>NEW.blob) AND OLD.id<=` + markSQL + ` BEGIN
	DELETE FROM meta WHERE key='` + folderStatsKey + `';
END;
CREATE TRIGGER IF NOT EXISTS folder_stats_blob_len AFTER UPDATE OF length ON blobs WHEN OLD.length<>NEW.length BEGIN
	UPDATE folder_stats SET stored=stored-OLD.length+NEW.length
	WHERE folder IN (SELECT folder FROM messages WHERE blob=NEW.id AND id<=` + markSQL + `);
END;
CREATE TRIGGER IF NOT EXISTS folder_stats_blob_id AFTER UPDATE OF id ON blobs WHEN OLD.id<>NEW.id BEGIN
	DELETE FROM meta WHERE key='` + folderStatsKey + `';
END;
CREATE TRIGGER IF NOT EXISTS folder_stats_blob_del AFTER DELETE ON blobs BEGIN
	DELETE FROM meta WHERE key='` + folderStatsKey + `';
END;
`

// markSQL is the mark, in SQL (NULL, so comparisons with it false, when
// there is none).
const markSQL = `(SELECT CAST(value AS INTEGER) FROM meta WHERE key='` + folderStatsKey + `')`

// folderStatsKey is the meta key of the mark.
const folderStatsKey = "folder_stats"

// The kept and off-server conditions (KeptSQL) of a trigger's NEW and
// OLD rows, as 0 or 1.
const (
	keptNew = `(NEW.gone_since=0 OR NEW.gone_reason IN ('` + GoneCleanup + `','` + GonePOP3Deleted + `'))`
	keptOld = `(OLD.gone_since=0 OR OLD.gone_reason IN ('` + GoneCleanup + `','` + GonePOP3Deleted + `'))`
	offNew  = `(NEW.gone_since<>0 AND NEW.gone_reason IN ('` + GoneCleanup + `','` + GonePOP3Deleted + `'))`
	offOld  = `(OLD.gone_since<>0 AND OLD.gone_reason IN ('` + GoneCleanup + `','` + GonePOP3Deleted + `'))`
)

var keptM = KeptSQL("m")

// folderFiguresSQL computes folder_stats' columns (but folder) for the
// folder f from messages: what fills the table, and what readers run
// while it is not usable (range scans of the folder's places, a blobs
// lookup per distinct message).
var folderFiguresSQL = `(SELECT count(*) FROM messages m WHERE m.folder=f.id),
	(SELECT count(*) FROM messages m WHERE m.folder=f.id AND ` + keptM + `),
	(SELECT count(*) FROM messages m WHERE m.folder=f.id AND m.gone_since<>0 AND ` + keptM + `),
	(SELECT coalesce(sum(m.size),0) FROM messages m WHERE m.folder=f.id AND ` + keptM + `),
	(SELECT coalesce(sum(b.length),0) FROM blobs b WHERE b.id IN (SELECT blob FROM messages m WHERE m.folder=f.id))`

// tailFiguresSQL is the same per folder for the places past the mark (one
// ? parameter): a message's compressed length counts for the first of
// its places in the folder.
var tailFiguresSQL = `SELECT m.folder, count(*), sum(` + keptM + `), sum(m.gone_since<>0 AND ` + keptM + `),
	sum(CASE WHEN ` + keptM + ` THEN m.size ELSE 0 END),
	sum(CASE WHEN EXISTS (SELECT 1 FROM messages o WHERE o.blob=m.blob AND o.folder=m.folder AND o.id<m.id) THEN 0
		ELSE coalesce((SELECT b.length FROM blobs b WHERE b.id=m.blob), 0) END)
	FROM messages m WHERE m.id>? GROUP BY m.folder`

// setupFolderStats creates folder_stats and its triggers, and fills it
// when it has no mark (new, or made unusable), in one transaction: a
// writer killed half way leaves it as it was. It runs when a writer opens.
func setupFolderStats(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, folderStatsSQL); err != nil {
		return err
	}
	if _, ok, err := statsMark(ctx, tx); err != nil {
		return err
	} else if !ok {
		if err := fillStats(ctx, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// statsMark reads the mark; ok is false when there is none.
func statsMark(ctx context.Context, tx *sql.Tx) (mark int64, ok bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key=?`, folderStatsKey).Scan(&mark)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return mark, err == nil, err
}

// fillStats computes folder_stats from messages and sets the mark (once
// per archive, and after the rare changes that delete the mark).
func fillStats(ctx context.Context, tx *sql.Tx) error {
	var mark int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id),0) FROM messages`).Scan(&mark); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM folder_stats`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO folder_stats(folder, places, kept, off_server, kept_size, stored)
		SELECT f.id, `+folderFiguresSQL+` FROM folders f WHERE EXISTS (SELECT 1 FROM messages m WHERE m.folder=f.id)`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value`,
		folderStatsKey, strconv.FormatInt(mark, 10))
	return err
}

// foldStatsLocked adds the places past the mark to folder_stats and moves
// the mark, in the open transaction (Commit); without a mark it fills the
// table. r.mu is held.
func (r *Repo) foldStatsLocked(ctx context.Context) error {
	if testNoFold {
		return nil
	}
	ctx = context.WithoutCancel(ctx) // as the commit itself
	tx := r.tx
	mark, ok, err := statsMark(ctx, tx)
	if err != nil || !ok {
		if err == nil {
			err = fillStats(ctx, tx)
		}
		return err
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id),0) FROM messages`).Scan(&last); err != nil {
		return err
	}
	if last <= mark {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO folder_stats(folder, places, kept, off_server, kept_size, stored) `+tailFiguresSQL+`
		ON CONFLICT(folder) DO UPDATE SET places=places+excluded.places, kept=kept+excluded.kept,
			off_server=off_server+excluded.off_server, kept_size=kept_size+excluded.kept_size, stored=stored+excluded.stored`, mark)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE meta SET value=? WHERE key=?`, strconv.FormatInt(last, 10), folderStatsKey)
	return err
}

// testNoFold leaves the places a Commit adds past the mark (tests of
// readers adding them).
var testNoFold bool

// folderFigures is one folder's figures as folder_stats holds them.
type folderFigures struct{ places, kept, offServer, keptSize, stored int64 }

// statsTail reads the figures of the places past the mark, by folder, in
// the read transaction tx; ok is false when folder_stats is not usable.
func statsTail(ctx context.Context, tx *sql.Tx) (tail map[int64]folderFigures, ok bool, err error) {
	mark, ok, err := statsMark(ctx, tx)
	if err != nil || !ok {
		return nil, false, err
	}
	rows, err := tx.QueryContext(ctx, tailFiguresSQL, mark)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	tail = map[int64]folderFigures{}
	for rows.Next() {
		var id int64
		var f folderFigures
		if err := rows.Scan(&id, &f.places, &f.kept, &f.offServer, &f.keptSize, &f.stored); err != nil {
			return nil, false, err
		}
		tail[id] = f
	}
	return tail, true, rows.Err()
}
