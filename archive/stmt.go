package archive

import (
	"context"
	"database/sql"
)

// The statements a backup runs for every message are prepared once on the
// writer connection (SQLite parsing them each time cost about 8% of a
// backup's CPU); each transaction uses them through tx.Stmt.
const (
	// A blob is found by its hash through the index on the hash's first
	// 8 bytes (FORMAT.md): ?1 is the 32-byte hash.
	sqlBlobByHash = `SELECT id, pack FROM blobs WHERE substr(hash,1,8)=substr(?1,1,8) AND hash=?1`
	sqlInsertBlob = `INSERT INTO blobs(hash, pack, offset, length, size) VALUES(?,?,?,?,?)`
	// A missing blob (pack 0) whose message is stored again keeps its id.
	sqlRestoreBlob = `UPDATE blobs SET pack=?, offset=?, length=?, size=? WHERE id=?`
	// Seeing a place again refreshes it. A place that was gone and comes
	// back with other content (a server that reset a folder under the
	// same UIDVALIDITY reuses its UIDs) is not updated here: AddMessage
	// moves the old row aside first, so the archived message keeps a place.
	// A place whose blob lost its hash (repair of a damaged index) takes
	// the message it is fetched with again.
	sqlUpsertMessage = `INSERT INTO messages(folder, uidvalidity, uid, uidl, blob, size, flags, date, tz, first_seen)
		VALUES(?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(folder, uidvalidity, uid, uidl) DO UPDATE SET flags=excluded.flags, gone_since=0, gone_reason='',
			blob=CASE WHEN (SELECT length(hash) FROM blobs WHERE id=messages.blob)<>32 THEN excluded.blob ELSE messages.blob END
		WHERE messages.gone_since=0 OR messages.blob=excluded.blob
			OR (SELECT length(hash) FROM blobs WHERE id=messages.blob)<>32`
	// sqlSetAsideMessage gives a gone place whose key the server reused a
	// key of its own (FORMAT.md: "replaced:").
	sqlSetAsideMessage = `UPDATE messages SET uidl='replaced:'||lower(hex((SELECT hash FROM blobs WHERE id=messages.blob)))||':'||id
		WHERE folder=? AND uidvalidity=? AND uid=? AND uidl=? AND gone_since<>0 AND blob<>?`
)

// prepare readies the hot statements on the writer connection. It runs
// when the writer opens, before any transaction holds the connection (the
// writer pool has one connection: preparing later would wait for it).
func (r *Repo) prepare(ctx context.Context) error {
	r.prepared = map[string]*sql.Stmt{}
	for _, q := range []string{sqlBlobByHash, sqlInsertBlob, sqlUpsertMessage} {
		p, err := r.wdb.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		r.prepared[q] = p
	}
	return nil
}

// txStmt returns the open transaction's form of a prepared statement.
// r.mu must be held and r.tx open.
func (r *Repo) txStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := r.txStmts[query]; ok {
		return s, nil
	}
	p, ok := r.prepared[query]
	if !ok {
		return r.tx.PrepareContext(ctx, query)
	}
	s := r.tx.StmtContext(ctx, p)
	if r.txStmts == nil {
		r.txStmts = map[string]*sql.Stmt{}
	}
	r.txStmts[query] = s
	return s, nil
}
