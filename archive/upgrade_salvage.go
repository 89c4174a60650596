package archive

import (
	"context"
	"database/sql"
	"fmt"
)

// What repair salvages of a damaged version 1 index into the new version
// 2 one: the rows of blobs and messages that can still be read are copied
// into TEMP tables with version 1's columns, then converted as the
// upgrade converts (convertV1). Repair then settles the blobs rows
// against the data files, as for any index.

// v1SalvageSQL holds the salvaged rows: version 1's blobs and messages
// (schemaV1SQL) without their references to other tables.
const v1SalvageSQL = `
CREATE TEMP TABLE IF NOT EXISTS v1_blobs (
	hash        BLOB PRIMARY KEY,
	pack        INTEGER NOT NULL,
	offset      INTEGER NOT NULL,
	length      INTEGER NOT NULL,
	size        INTEGER NOT NULL,
	stored_at   INTEGER NOT NULL DEFAULT 0,
	message_id  TEXT NOT NULL DEFAULT '',
	subject     TEXT NOT NULL DEFAULT '',
	sender      TEXT NOT NULL DEFAULT '',
	date_header TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS v1_messages (
	id           INTEGER PRIMARY KEY,
	folder       INTEGER NOT NULL,
	uidvalidity  INTEGER NOT NULL,
	uid          INTEGER NOT NULL,
	uidl         TEXT NOT NULL DEFAULT '',
	hash         BLOB NOT NULL,
	size         INTEGER NOT NULL,
	flags        TEXT NOT NULL DEFAULT '',
	internaldate TEXT NOT NULL DEFAULT '',
	modseq       INTEGER NOT NULL DEFAULT 0,
	first_seen   INTEGER NOT NULL,
	last_seen    INTEGER NOT NULL,
	gone_since   INTEGER NOT NULL DEFAULT 0,
	gone_reason  TEXT NOT NULL DEFAULT ''
);
DELETE FROM temp.v1_blobs;
DELETE FROM temp.v1_messages;
`

// oldIsV1 reports whether the damaged index (schema old on conn) is version 1.
func oldIsV1(ctx context.Context, conn *sql.Conn) bool {
	cols, err := commonColumns(ctx, conn, "messages", "old", "messages")
	return err == nil && isV1Messages(cols)
}

// salvageV1 salvages blobs and messages of a version 1 old index into
// the new one, converted.
func (r *Repo) salvageV1(ctx context.Context, conn *sql.Conn, res *RepairResult) {
	if _, err := conn.ExecContext(ctx, v1SalvageSQL); err != nil {
		res.Unsalvaged = append(res.Unsalvaged, "messages: "+err.Error())
		return
	}
	defer conn.ExecContext(ctx, `DROP TABLE IF EXISTS temp.v1_blobs; DROP TABLE IF EXISTS temp.v1_messages`)
	for _, t := range []string{"blobs", "messages"} {
		cols, err := commonColumns(ctx, conn, t, "temp", "v1_"+t)
		if err != nil {
			res.Unsalvaged = append(res.Unsalvaged, t+": "+err.Error())
			continue
		}
		if len(cols) == 0 {
			continue
		}
		// Blobs are rebuilt from the data files anyway: what is kept of
		// them here are the Date headers, and the messages whose copies the
		// data files no longer hold intact (repair marks them missing).
		_, lost := copyRows(ctx, conn, "old."+t, "temp.v1_"+t, cols)
		if t == "messages" {
			res.Unsalvaged = append(res.Unsalvaged, lost...)
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		res.Unsalvaged = append(res.Unsalvaged, "messages: "+err.Error())
		return
	}
	n, err := convertV1(ctx, tx, "temp", true, r.report, nil)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		tx.Rollback()
		res.Unsalvaged = append(res.Unsalvaged, fmt.Sprintf("messages: version 1 rows: %v", err))
		return
	}
	res.Salvaged["messages"] = n.messages
}
