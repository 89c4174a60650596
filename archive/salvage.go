package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// What repair keeps of a damaged index: it is moved aside whole, and the
// rows that can still be read are copied into the new one.

// setAsideBrokenIndex moves index.db (with its -wal and -shm) out of the
// way when SQLite cannot read it or it fails its integrity check.
func setAsideBrokenIndex(ctx context.Context, dir string) (moved, why string, err error) {
	path := filepath.Join(dir, "index.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", "", nil
	}
	probs, cerr := checkIndexFile(ctx, path)
	if cerr == nil && len(probs) == 0 {
		return "", "", nil
	}
	why = strings.Join(probs, "; ")
	if cerr != nil {
		why = cerr.Error()
	}
	moved = filepath.Join(dir, "index.db.damaged-"+time.Now().UTC().Format("20060102T150405Z"))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(path+suffix, moved+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("move the damaged index aside: %w", err)
		}
	}
	return moved, why, syncDir(dir)
}

func checkIndexFile(ctx context.Context, path string) ([]string, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, dbWriter))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return integrityCheck(ctx, db)
}

// integrityCheck runs SQLite's integrity_check: every page, every index
// entry against its table. It returns the problems found.
func integrityCheck(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `PRAGMA main.integrity_check`) // index.db: search.db is derived, rebuilt, not repaired
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return out, err
		}
		if s != "ok" {
			out = append(out, s)
		}
	}
	return out, rows.Err()
}

// CheckIndex runs SQLite's integrity check of the index and returns what
// it found wrong (nothing: sound).
func (r *Repo) CheckIndex(ctx context.Context) ([]string, error) {
	probs, err := integrityCheck(ctx, r.rdb)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return probs, nil
}

// salvageTables are copied from a damaged index in this order (foreign
// keys). blobs rows are copied too, for their ids (a place names its
// message by blobs.id) and then checked against the data files; packs are
// rebuilt from the data files.
var salvageTables = []string{"accounts", "folders", "flagsets", "blobs", "messages", "runs", "ledger", "pending_deletes"}

// salvage copies what can still be read from the damaged index at path.
func (r *Repo) salvage(ctx context.Context, path string, res *RepairResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	conn, err := r.wdb.Conn(ctx)
	if err != nil {
		res.Unsalvaged = append(res.Unsalvaged, "all: "+err.Error())
		return
	}
	defer conn.Close()
	conn.ExecContext(ctx, `PRAGMA foreign_keys=OFF`)
	defer conn.ExecContext(ctx, `PRAGMA foreign_keys=ON`)
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS old`, sqliteDSN(path, dbReader)); err != nil {
		res.Unsalvaged = append(res.Unsalvaged, "all: "+err.Error())
		return
	}
	defer conn.ExecContext(ctx, `DETACH DATABASE old`)
	v1 := oldIsV1(ctx, conn)
	for _, t := range salvageTables {
		if v1 && (t == "blobs" || t == "messages") {
			// A version 1 index: converted as it is salvaged (upgrade_salvage.go).
			if t == "messages" {
				r.salvageV1(ctx, conn, res)
			}
			continue
		}
		cols, err := commonColumns(ctx, conn, t, "main", t)
		if err != nil || len(cols) == 0 {
			if err != nil {
				res.Unsalvaged = append(res.Unsalvaged, t+": "+err.Error())
			}
			continue
		}
		if t == "pending_deletes" {
			if _, err := conn.ExecContext(ctx, pendingSQL); err != nil {
				res.Unsalvaged = append(res.Unsalvaged, t+": "+err.Error())
				continue
			}
		}
		n, lost := copyRows(ctx, conn, "old."+t, "main."+t, cols)
		res.Salvaged[t] = n
		res.Unsalvaged = append(res.Unsalvaged, lost...)
	}
}

// commonColumns lists the columns table t of the old index has in table
// dst of schema (main: the same table in the new index).
func commonColumns(ctx context.Context, conn *sql.Conn, t, schema, dst string) ([]string, error) {
	get := func(schema, t string) (map[string]bool, []string, error) {
		rows, err := conn.QueryContext(ctx, `SELECT name FROM pragma_table_info(?, ?)`, t, schema)
		if err != nil {
			return nil, nil, err
		}
		defer rows.Close()
		set := map[string]bool{}
		var order []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return nil, nil, err
			}
			set[n] = true
			order = append(order, n)
		}
		return set, order, rows.Err()
	}
	_, oldCols, err := get("old", t)
	if err != nil {
		return nil, err
	}
	mine, _, err := get(schema, dst)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range oldCols {
		if mine[c] {
			out = append(out, `"`+c+`"`)
		}
	}
	return out, nil
}

// copyRows copies table src (old.TABLE) of the old index into dst, in
// stretches of rows and then row by row where a stretch cannot be read (a
// damaged page).
func copyRows(ctx context.Context, conn *sql.Conn, src, dst string, cols []string) (int64, []string) {
	t := strings.TrimPrefix(src, "old.")
	list := strings.Join(cols, ", ")
	ins := `INSERT OR IGNORE INTO ` + dst + `(` + list + `) SELECT ` + list + ` FROM ` + src
	if res, err := conn.ExecContext(ctx, ins); err == nil {
		n, _ := res.RowsAffected()
		return n, nil
	}
	var lo, hi sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT min(rowid), max(rowid) FROM `+src).Scan(&lo, &hi); err != nil {
		return 0, []string{t + ": unreadable: " + err.Error()}
	}
	var total, bad int64
	const stretch = 1000
	for start := lo.Int64; start <= hi.Int64; start += stretch {
		end := min(start+stretch-1, hi.Int64)
		if res, err := conn.ExecContext(ctx, ins+` WHERE rowid BETWEEN ? AND ?`, start, end); err == nil {
			n, _ := res.RowsAffected()
			total += n
			continue
		}
		for id := start; id <= end; id++ {
			res, err := conn.ExecContext(ctx, ins+` WHERE rowid = ?`, id)
			if err != nil {
				bad++
				continue
			}
			n, _ := res.RowsAffected()
			total += n
		}
	}
	if bad > 0 {
		return total, []string{fmt.Sprintf("%s: %d row ids could not be read", t, bad)}
	}
	return total, nil
}
