package archive

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// Upgrading a version 1 index to version 2, in place (FORMAT.md,
// "Upgrading from version 1"). The first writer does it when it opens
// (migrateSchema, before anything else touches the index), and so does
// 'mailkeep repair --upgrade' (Upgrade):
//
//	meta.format_version = 1:
//	    one transaction: the v1 blobs and messages renamed aside (their indexes dropped);
//	        the v2 tables made; blobs (ids in pack, offset order), a blobs row of pack 0
//	        for every missing message, flagsets, messages (same ids; dates as integers,
//	        a place without an INTERNALDATE dated by its Date: header);
//	        the v1 tables dropped; format_version 2
//	    VACUUM (the v1 pages go: the file shrinks)
//	the marker rewritten atomically ("version 2", openDB), also when only that was left to do
//
// Killed anywhere, the index is version 1 (the transaction did not commit)
// or version 2, both valid; the next writer does what is left.

// upgradeSchemaSQL makes the version 2 tables the conversion fills:
// schema.go's (IF NOT EXISTS everywhere), so the tables that do not
// change stay as they are.
const upgradeSchemaSQL = schemaSQL

// UpgradeResult says what an upgrade of the index did.
type UpgradeResult struct {
	From, To    int    // format versions; equal when there was nothing to do
	Messages    int64  // message places converted
	Blobs       int64  // stored messages converted
	Missing     int64  // messages without a stored copy (missing places), given a blobs row of pack 0
	Flagsets    int64  // distinct flag lists
	Index       string // index.db
	BytesBefore int64  // index.db before
	BytesAfter  int64  // and after (VACUUM)
	Took        time.Duration
}

// testHookUpgrade runs at each named step of an upgrade (crash tests kill
// the process there).
var testHookUpgrade func(step string)

func upgradeStep(step string) {
	if testHookUpgrade != nil {
		testHookUpgrade(step)
	}
}

// The conversion's Go functions (the date forms are Go's: the same
// parsers the version 1 readers used). Registered once for every
// connection of the "sqlite" driver; cheap, and only the conversion calls them.
func init() {
	sqlite.MustRegisterDeterministicScalarFunction("mailkeep_v1_header_date", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if t, ok := ParseDateHeader(sqlText(args[0])); ok {
			return t.Unix(), nil
		}
		return nil, nil
	})
	sqlite.MustRegisterDeterministicScalarFunction("mailkeep_v1_date", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if t, ok := parseV1Date(sqlText(args[0])); ok {
			return t.Unix(), nil
		}
		return nil, nil
	})
	sqlite.MustRegisterDeterministicScalarFunction("mailkeep_v1_zone", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if t, ok := parseV1Date(sqlText(args[0])); ok {
			_, off := t.Zone()
			return int64(off / 60), nil
		}
		return nil, nil
	})
}

func sqlText(v driver.Value) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// parseV1Date reads a version 1 messages.internaldate (” or DateLayout),
// as version 1 readers did: what does not parse is no date.
func parseV1Date(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(DateLayout, s)
	return t, err == nil
}

// indexVersion reads meta.format_version; 0 for an index without one (a
// new, empty file).
func indexVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'`).Scan(&n); err != nil || n == 0 {
		return 0, err
	}
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='format_version'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err = strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("format version %q: %w", v, err)
	}
	return n, nil
}

// upgradeV1 upgrades the version 1 index open as the writer pool db (one
// connection) to version 2 (migrateSchema calls it; the writer rewrites
// the marker after it).
func upgradeV1(ctx context.Context, db *sql.DB, report progress.Reporter) error {
	_, err := convertIndex(ctx, db, report)
	return err
}

// convertIndex upgrades the index open as db when it is version 1, and
// returns nil when it is not.
func convertIndex(ctx context.Context, db *sql.DB, report progress.Reporter) (*UpgradeResult, error) {
	if v, err := indexVersion(ctx, db); err != nil || v != 1 {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // once begun, it finishes or rolls back, never half-runs a statement
	start := time.Now()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var seq int
	var schema, path string
	conn.QueryRowContext(ctx, `SELECT seq, name, file FROM pragma_database_list WHERE name='main'`).Scan(&seq, &schema, &path)
	res := &UpgradeResult{From: 1, To: 2, Index: path, BytesBefore: fileSize(path)}
	var places int64
	conn.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&places)
	progress.Send(report, progress.Event{Kind: progress.Info, Total: places,
		Text: fmt.Sprintf("upgrading the index from format version 1 to 2 (%d message places, %s); readers of version 1 keep working until it is done", places, mib(res.BytesBefore))})
	// foreign_keys can only change outside a transaction. Off, DROP TABLE
	// does not first delete every row to check references nobody makes.
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys=OFF`); err != nil {
		return nil, err
	}
	defer conn.ExecContext(ctx, `PRAGMA foreign_keys=ON`)
	// A small page cache for the conversion: SQLite sizes its sorts (the
	// ORDER BYs, the index builds) by it. 1,000,000 messages, same load:
	// 32 MiB took 27.7 s at 234 MB peak RSS, the writer's 4 MiB 27.4 s at
	// 66 MB, 1 MiB 28.4 s at 46 MB (the budget of a backup, which may be
	// the one that upgrades, is 64 MB).
	var cache int64
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err == nil {
		conn.ExecContext(ctx, `PRAGMA cache_size=-1024`)
		defer conn.ExecContext(ctx, `PRAGMA cache_size=`+strconv.FormatInt(cache, 10))
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, q := range []string{`DROP INDEX IF EXISTS blobs_message_id`, `DROP INDEX IF EXISTS messages_hash`,
		`ALTER TABLE blobs RENAME TO v1_blobs`, `ALTER TABLE messages RENAME TO v1_messages`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("upgrade: %s: %w", q, err)
		}
	}
	upgradeStep("renamed")
	if _, err := tx.ExecContext(ctx, upgradeSchemaSQL); err != nil {
		return nil, fmt.Errorf("upgrade: create the version 2 tables: %w", err)
	}
	// Indexes are built after their table is filled: sorting once is
	// several times faster than a million inserts at random places.
	later, err := dropIndexes(ctx, tx, "blobs", "messages")
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	n, err := convertV1(ctx, tx, "main", false, report, func(table string) error {
		for _, q := range later[table] {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	res.Messages, res.Blobs, res.Missing, res.Flagsets = n.messages, n.blobs, n.missing, n.flagsets
	for _, q := range []string{`DROP TABLE v1_messages`, `DROP TABLE v1_blobs`, `UPDATE meta SET value='2' WHERE key='format_version'`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("upgrade: %s: %w", q, err)
		}
	}
	upgradeStep("before-commit")
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("upgrade: commit: %w", err)
	}
	upgradeStep("committed")
	progress.Send(report, progress.Event{Kind: progress.Info, Text: "upgrade: converted; compacting the index (VACUUM)"})
	// The version 1 rows' pages are free now; VACUUM gives them back to
	// the file system (it needs room for a copy of the new, smaller index).
	// A failure leaves a valid, larger version 2 index.
	if _, err := conn.ExecContext(ctx, `VACUUM`); err == nil {
		upgradeStep("vacuumed")
		_, err = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	if err != nil {
		progress.Send(report, progress.Event{Kind: progress.Warning, Err: err,
			Text: "upgrade: could not compact the index (VACUUM): " + err.Error() + "; it is upgraded, only larger than it needs to be"})
	}
	upgradeStep("checkpointed")
	res.BytesAfter, res.Took = fileSize(path), time.Since(start)
	progress.Send(report, progress.Event{Kind: progress.Info, Total: res.Messages,
		Text: fmt.Sprintf("index upgraded to format version 2: %d message places, %d stored messages in %.1fs; index.db %s -> %s",
			res.Messages, res.Blobs, res.Took.Seconds(), mib(res.BytesBefore), mib(res.BytesAfter))})
	return res, nil
}

// ensureMarker makes the marker file name this format version (written atomically).
func ensureMarker(dir string) error {
	path := filepath.Join(dir, "mailkeep-archive")
	if b, err := os.ReadFile(path); err == nil && string(b) == formatMarker {
		return nil
	}
	return writeFileAtomic(path, []byte(formatMarker), 0o600)
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

type convertCounts struct{ blobs, missing, flagsets, messages int64 }

type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

// convertV1 fills main's version 2 blobs, flagsets and messages from the
// version 1 rows of src.v1_blobs and src.v1_messages: "main" for the
// upgrade in place, "temp" for what repair salvaged of a damaged version
// 1 index (salvageV1; then rows that would collide are skipped).
// indexed(table) runs after table is filled, before its rows are looked up.
func convertV1(ctx context.Context, tx execer, src string, salvage bool, report progress.Reporter, indexed func(table string) error) (convertCounts, error) {
	var n convertCounts
	orIgnore := ""
	if salvage {
		orIgnore = "OR IGNORE "
	}
	steps := []struct {
		name, query string
		count       *int64
		filled      string // the table is filled after this step
	}{
		// Ids in (pack, offset) order: reading messages by blob id reads the
		// data files front to back.
		{"blobs", `INSERT INTO main.blobs(hash, pack, offset, length, size)
			SELECT hash, pack, offset, length, size FROM ` + src + `.v1_blobs ORDER BY pack, offset`, &n.blobs, "blobs"},
		// A missing place (its hash has no stored copy) gets a blobs row
		// without a place in the data files: pack 0.
		{"missing", `INSERT INTO main.blobs(hash, pack, offset, length, size)
			SELECT m.hash, 0, 0, 0, max(m.size) FROM ` + src + `.v1_messages m
			WHERE NOT EXISTS (SELECT 1 FROM main.blobs b WHERE substr(b.hash, 1, 8)=substr(m.hash, 1, 8) AND b.hash=m.hash)
			GROUP BY m.hash ORDER BY min(m.id)`, &n.missing, ""},
		// The commonest flag lists get the smallest ids.
		{"flagsets", `INSERT OR IGNORE INTO main.flagsets(flags)
			SELECT flags FROM ` + src + `.v1_messages WHERE flags<>'' GROUP BY flags ORDER BY count(*) DESC, flags`, &n.flagsets, ""},
		// A place without an INTERNALDATE (or with one version 1 readers
		// could not read) is dated by its message's Date: header, tz NULL,
		// as version 1 readers dated it.
		{"messages", `INSERT ` + orIgnore + `INTO main.messages(id, folder, uidvalidity, uid, uidl, blob, size, flags, date, tz,
				first_seen, gone_since, gone_reason)
			SELECT m.id, m.folder, m.uidvalidity, m.uid, m.uidl,
				(SELECT b.id FROM main.blobs b WHERE substr(b.hash, 1, 8)=substr(m.hash, 1, 8) AND b.hash=m.hash ORDER BY b.pack=0, b.id LIMIT 1),
				m.size, coalesce((SELECT fs.id FROM main.flagsets fs WHERE fs.flags=m.flags), 0),
				coalesce(mailkeep_v1_date(m.internaldate),
					(SELECT mailkeep_v1_header_date(b.date_header) FROM ` + src + `.v1_blobs b WHERE b.hash=m.hash)),
				mailkeep_v1_zone(m.internaldate), m.first_seen, m.gone_since, m.gone_reason
			FROM ` + src + `.v1_messages m ORDER BY m.id`, &n.messages, "messages"},
	}
	for _, s := range steps {
		t0 := time.Now()
		r, err := tx.ExecContext(ctx, s.query)
		if err != nil {
			return n, fmt.Errorf("convert %s: %w", s.name, err)
		}
		*s.count, _ = r.RowsAffected()
		if s.filled != "" && indexed != nil {
			if err := indexed(s.filled); err != nil {
				return n, fmt.Errorf("index %s: %w", s.filled, err)
			}
		}
		progress.Send(report, progress.Event{Kind: progress.Info, Total: *s.count,
			Text: fmt.Sprintf("upgrade: %s: %d rows in %.1fs", s.name, *s.count, time.Since(t0).Seconds())})
		upgradeStep(s.name)
	}
	return n, nil
}

// dropIndexes drops the indexes of tables that their DDL made (not those
// of their UNIQUE constraints) and returns the statements that make them again.
func dropIndexes(ctx context.Context, tx *sql.Tx, tables ...string) (map[string][]string, error) {
	out := map[string][]string{}
	var names []string
	for _, t := range tables {
		rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL`, t)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var name, q string
			if err := rows.Scan(&name, &q); err != nil {
				rows.Close()
				return nil, err
			}
			names = append(names, name)
			out[t] = append(out[t], q)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Upgrade brings the archive in dir to format version 2 when it is
// version 1, and does nothing else ('mailkeep repair --upgrade'). It takes
// the write lock like any writer. The result's From and To are equal
// when the archive was version 2 already.
func Upgrade(ctx context.Context, dir string, opts *Options) (*UpgradeResult, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Purpose == "" {
		o.Purpose = "mailkeep repair --upgrade"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "mailkeep-archive")); err != nil {
		return nil, fmt.Errorf("%s is not a mailkeep archive (no mailkeep-archive file): %w", dir, err)
	}
	path := filepath.Join(dir, "index.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("index %s: %w: run 'mailkeep repair' to rebuild it from the data files", path, err)
	}
	lock, err := acquireLock(ctx, dir, o.LockWait, o.Purpose)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	db, err := sql.Open("sqlite", sqliteDSN(path, dbWriter))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	defer func() {
		db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		db.Close()
	}()
	res, err := convertIndex(ctx, db, o.Report)
	if err != nil {
		return nil, fmt.Errorf("index %s: upgrade from format version 1: %w", path, err)
	}
	if res == nil {
		v, err := indexVersion(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", path, err)
		}
		if v != 2 {
			return nil, fmt.Errorf("index %s has format version %d; this mailkeep upgrades version 1 to 2", path, v)
		}
		res = &UpgradeResult{From: v, To: v, Index: path}
	}
	if err := ensureMarker(dir); err != nil {
		return nil, fmt.Errorf("archive %s: marker: %w", dir, err)
	}
	return res, nil
}

// isV1Messages reports whether a messages table's columns are version 1's.
func isV1Messages(cols []string) bool {
	for _, c := range cols {
		if strings.Trim(c, `"`) == "internaldate" {
			return true
		}
	}
	return false
}
