package archive

import (
	"context"
	"database/sql"
)

// The statements a backup runs for every message are prepared once on the
// writer connection (SQLite parsing them each time cost about 8% of a
// backup's CPU); each transaction uses them through tx.Stmt.
const (
	sqlHasBlob    = `SELECT 1 FROM blobs WHERE hash=?`
	sqlInsertBlob = `INSERT INTO blobs(hash, pack, offset, length, size, stored_at, message_id, subject, sender, date_header)
		VALUES(?,?,?,?,?,?,?,?,?,?)`
	// Seeing a place again refreshes it. A place that was gone and comes
	// back with other content (a server that reset a folder under the
	// same UIDVALIDITY reuses its UIDs) is not updated here: AddMessage
	// moves the old row aside first, so the archived message keeps a place.
	sqlUpsertMessage = `INSERT INTO messages(folder, uidvalidity, uid, uidl, hash, size, flags, internaldate, modseq, first_seen, last_seen)
		VALUES(?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(folder, uidvalidity, uid, uidl) DO UPDATE SET flags=excluded.flags, modseq=excluded.modseq,
			last_seen=excluded.last_seen, gone_since=0, gone_reason=''
		WHERE messages.gone_since=0 OR messages.hash=excluded.hash`
	// sqlSetAsideMessage gives a gone place whose key the server reused a
	// key of its own (FORMAT.md: "replaced:").
	sqlSetAsideMessage = `UPDATE messages SET uidl='replaced:'||lower(hex(hash))||':'||id
		WHERE folder=? AND uidvalidity=? AND uid=? AND uidl=? AND gone_since<>0 AND hash<>?`
)

// prepare readies the hot statements on the writer connection. It runs
// when the writer opens, before any transaction holds the connection (the
// writer pool has one connection: preparing later would wait for it).
func (r *Repo) prepare(ctx context.Context) error {
	r.prepared = map[string]*sql.Stmt{}
	for _, q := range []string{sqlHasBlob, sqlInsertBlob, sqlUpsertMessage} {
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
