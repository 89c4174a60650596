package main

import (
	"database/sql"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"
)

// downgradeV1Cmd is the script command "downgrade-v1 ARCHIVE": it turns a
// closed version 2 archive back into what a version 1 mailkeep wrote
// (FORMAT.md before version 2: blobs keyed by hash, places naming their
// hash, dates and flags as text), for scripts of the upgrade as a user
// meets it. Header copies and Date headers are left empty.
func downgradeV1Cmd(ts *testscript.TestScript, neg bool, args []string) {
	dir := ts.MkAbs(args[0])
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "index.db")+"?_pragma=busy_timeout(10000)")
	ts.Check(err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`PRAGMA foreign_keys=OFF`,
		`BEGIN`,
		`DROP INDEX blobs_hash`, `DROP INDEX messages_blob`,
		`ALTER TABLE blobs RENAME TO v2_blobs`, `ALTER TABLE messages RENAME TO v2_messages`,
		`CREATE TABLE blobs (hash BLOB PRIMARY KEY, pack INTEGER NOT NULL REFERENCES packs(id), offset INTEGER NOT NULL,
			length INTEGER NOT NULL, size INTEGER NOT NULL, stored_at INTEGER NOT NULL, message_id TEXT NOT NULL DEFAULT '',
			subject TEXT NOT NULL DEFAULT '', sender TEXT NOT NULL DEFAULT '', date_header TEXT NOT NULL DEFAULT '') WITHOUT ROWID`,
		`CREATE INDEX blobs_message_id ON blobs(message_id)`,
		`INSERT INTO blobs(hash, pack, offset, length, size, stored_at) SELECT hash, pack, offset, length, size, 0 FROM v2_blobs WHERE pack<>0`,
		`CREATE TABLE messages (id INTEGER PRIMARY KEY, folder INTEGER NOT NULL REFERENCES folders(id), uidvalidity INTEGER NOT NULL,
			uid INTEGER NOT NULL, uidl TEXT NOT NULL DEFAULT '', hash BLOB NOT NULL, size INTEGER NOT NULL, flags TEXT NOT NULL DEFAULT '',
			internaldate TEXT NOT NULL DEFAULT '', modseq INTEGER NOT NULL DEFAULT 0, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
			gone_since INTEGER NOT NULL DEFAULT 0, gone_reason TEXT NOT NULL DEFAULT '', UNIQUE(folder, uidvalidity, uid, uidl))`,
		`CREATE INDEX messages_hash ON messages(hash)`,
		// INTERNALDATE as RFC 3339 with its zone (whole hours and minutes east or west).
		`INSERT INTO messages(id, folder, uidvalidity, uid, uidl, hash, size, flags, internaldate, first_seen, last_seen, gone_since, gone_reason)
			SELECT id, folder, uidvalidity, uid, uidl, (SELECT b.hash FROM v2_blobs b WHERE b.id=m.blob), size,
				coalesce((SELECT fs.flags FROM flagsets fs WHERE fs.id=m.flags), ''),
				CASE WHEN m.tz IS NULL THEN '' ELSE strftime('%Y-%m-%dT%H:%M:%S', m.date + m.tz*60, 'unixepoch') ||
					CASE WHEN m.tz < 0 THEN '-' ELSE '+' END || printf('%02d:%02d', abs(m.tz)/60, abs(m.tz)%60) END,
				first_seen, first_seen, gone_since, gone_reason FROM v2_messages m`,
		`DROP TABLE v2_messages`, `DROP TABLE v2_blobs`, `DROP TABLE flagsets`,
		`UPDATE meta SET value='1' WHERE key='format_version'`,
		`COMMIT`,
		`VACUUM`,
	} {
		if _, err := db.Exec(q); err != nil {
			ts.Fatalf("downgrade-v1: %s: %v", q, err)
		}
	}
	ts.Check(os.WriteFile(filepath.Join(dir, "mailkeep-archive"), []byte("mailkeep archive\nversion 1\nsee archive/FORMAT.md in the mailkeep sources\n"), 0o600))
}
