package archive

import (
	"context"
	"database/sql"
	"database/sql/driver"
)

// The version 1 reader shim: a reader (ReadOnly) never upgrades, and a
// version 1 archive it opens is read through TEMP views that present the
// version 1 rows in version 2's columns. SQLite resolves an unqualified
// table name in temp first, so every reader query sees them instead of
// main's tables. The values differ in type only, which the readers accept
// (they scan dates and flags as any, encode.go): blobs.id is the hash
// itself (joins on b.id = m.blob still match), messages.date is version
// 1's text (the INTERNALDATE, or for a place without one its message's
// Date: header, as version 2 dates it), tz is NULL, messages.flags is the
// flag text and flagsets is empty. A missing place (no blobs row in
// version 1) has no blobs row here either: joins leave it out, as
// version 2 readers leave out pack 0. The views only read; TEMP objects live in the
// connection's own memory, so read-only and immutable connections take them.
const v1ShimSQL = `
CREATE TEMP VIEW IF NOT EXISTS blobs AS
	SELECT hash AS id, hash, pack, offset, length, size FROM main.blobs;
CREATE TEMP VIEW IF NOT EXISTS messages AS
	SELECT id, folder, uidvalidity, uid, uidl, hash AS blob, size, flags,
		CASE WHEN internaldate<>'' THEN internaldate ELSE (SELECT b.date_header FROM main.blobs b WHERE b.hash=m.hash) END AS date,
		NULL AS tz, first_seen, gone_since, gone_reason FROM main.messages m;
CREATE TEMP TABLE IF NOT EXISTS flagsets (id INTEGER PRIMARY KEY, flags TEXT);
`

// shimV1 gives a reader connection the shim when its index is version 1,
// and returns the connection to use: one that notices when another
// process has upgraded the index meanwhile (shimConn). An index it cannot
// read the version of is left alone: the Repo's own check of the version
// reports that.
func shimV1(ctx context.Context, conn driver.Conn) (driver.Conn, error) {
	v, ok := connFormatVersion(ctx, conn)
	if !ok || v != "1" {
		return conn, nil
	}
	if _, err := conn.(driver.ExecerContext).ExecContext(ctx, v1ShimSQL, nil); err != nil {
		return conn, err
	}
	if _, ok := conn.(*shimConn); ok {
		return conn, nil
	}
	return &shimConn{Conn: conn}, nil
}

// shimConn is a reader connection with the shim. Before each reuse it
// checks that the index is still version 1: once a writer has upgraded it
// the views name columns that are gone, and the connection is given up
// (driver.ErrBadConn), so that the pool makes a new one, which sees
// version 2 as it is. A long-running reader (serve) survives the upgrade.
type shimConn struct{ driver.Conn }

func (c *shimConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		if err := r.ResetSession(ctx); err != nil {
			return err
		}
	}
	if v, ok := connFormatVersion(ctx, c.Conn); !ok || v != "1" {
		return driver.ErrBadConn
	}
	return nil
}

func (c *shimConn) IsValid() bool {
	v, ok := c.Conn.(driver.Validator)
	return !ok || v.IsValid()
}

func (c *shimConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *shimConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *shimConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *shimConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *shimConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// connFormatVersion reads main's meta.format_version on a driver connection.
func connFormatVersion(ctx context.Context, conn driver.Conn) (string, bool) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return "", false
	}
	rows, err := q.QueryContext(ctx, `SELECT value FROM main.meta WHERE key='format_version'`, nil)
	if err != nil {
		return "", false
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil { // io.EOF: no such row
		return "", false
	}
	s := sqlText(dest[0])
	return s, s != ""
}

// unshimmed runs fn on a reader connection without the shim's TEMP
// objects, which it gets back afterwards: VACUUM INTO copies main's
// schema by its DDL, whose names would otherwise resolve to the views.
func (r *Repo) unshimmed(ctx context.Context, fn func(*sql.Conn) error) error {
	conn, err := r.rdb.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `DROP VIEW IF EXISTS temp.blobs; DROP VIEW IF EXISTS temp.messages; DROP TABLE IF EXISTS temp.flagsets`); err != nil {
		return err
	}
	err = fn(conn)
	if serr := conn.Raw(func(dc any) error { _, err := shimV1(ctx, dc.(driver.Conn)); return err }); err == nil {
		err = serr
	}
	return err
}
