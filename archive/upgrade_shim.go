package archive

import (
	"context"
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

// shimV1 gives a reader connection the shim when its index is version 1.
// An index it cannot read the version of is left alone: the Repo's own
// check of the version reports that.
func shimV1(ctx context.Context, conn driver.Conn) error {
	v, ok := connFormatVersion(ctx, conn)
	if !ok || v != "1" {
		return nil
	}
	_, err := conn.(driver.ExecerContext).ExecContext(ctx, v1ShimSQL, nil)
	return err
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
