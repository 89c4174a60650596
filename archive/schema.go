package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// FormatVersion is the version of the on-disk format described in FORMAT.md.
// Readers refuse a repository whose version they do not know.
const FormatVersion = 2

// formatMarker is the content of DIR/mailkeep-archive, so a directory can be
// recognised as an archive without opening the database.
const formatMarker = "mailkeep archive\nversion 2\nsee archive/FORMAT.md in the mailkeep sources\n"

const schemaSQL = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS packs (
	id     INTEGER PRIMARY KEY,
	name   TEXT NOT NULL UNIQUE,
	size   INTEGER NOT NULL,
	sealed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS blobs (
	id     INTEGER PRIMARY KEY,
	hash   BLOB NOT NULL,
	pack   INTEGER NOT NULL,
	offset INTEGER NOT NULL,
	length INTEGER NOT NULL,
	size   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_hash ON blobs(substr(hash, 1, 8));
CREATE TABLE IF NOT EXISTS flagsets (
	id    INTEGER PRIMARY KEY,
	flags TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS accounts (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	protocol   TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS folders (
	id             INTEGER PRIMARY KEY,
	account        INTEGER NOT NULL REFERENCES accounts(id),
	name           TEXT NOT NULL,
	delimiter      TEXT NOT NULL DEFAULT '',
	special_use    TEXT NOT NULL DEFAULT '',
	attrs          TEXT NOT NULL DEFAULT '',
	subscribed     INTEGER NOT NULL DEFAULT 0,
	uidvalidity    INTEGER NOT NULL DEFAULT 0,
	last_uid       INTEGER NOT NULL DEFAULT 0,
	uidnext        INTEGER NOT NULL DEFAULT 0,
	highest_modseq INTEGER NOT NULL DEFAULT 0,
	server_count   INTEGER NOT NULL DEFAULT 0,
	first_seen     INTEGER NOT NULL,
	last_seen      INTEGER NOT NULL,
	gone_since     INTEGER NOT NULL DEFAULT 0,
	UNIQUE(account, name)
);
CREATE TABLE IF NOT EXISTS messages (
	id          INTEGER PRIMARY KEY,
	folder      INTEGER NOT NULL REFERENCES folders(id),
	uidvalidity INTEGER NOT NULL,
	uid         INTEGER NOT NULL,
	uidl        TEXT NOT NULL DEFAULT '',
	blob        INTEGER NOT NULL,
	size        INTEGER NOT NULL,
	flags       INTEGER NOT NULL DEFAULT 0,
	date        INTEGER,
	tz          INTEGER,
	first_seen  INTEGER NOT NULL,
	gone_since  INTEGER NOT NULL DEFAULT 0,
	gone_reason TEXT NOT NULL DEFAULT '',
	UNIQUE(folder, uidvalidity, uid, uidl)
);
CREATE INDEX IF NOT EXISTS messages_blob ON messages(blob);
CREATE TABLE IF NOT EXISTS runs (
	id        INTEGER PRIMARY KEY,
	account   TEXT NOT NULL,
	job       TEXT NOT NULL DEFAULT '',
	kind      TEXT NOT NULL,
	started   INTEGER NOT NULL,
	finished  INTEGER NOT NULL,
	ok        INTEGER NOT NULL,
	messages  INTEGER NOT NULL DEFAULT 0,
	bytes     INTEGER NOT NULL DEFAULT 0,
	errors    INTEGER NOT NULL DEFAULT 0,
	error     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_account ON runs(account, finished);
CREATE TABLE IF NOT EXISTS ledger (
	id          INTEGER PRIMARY KEY,
	target      TEXT NOT NULL,
	folder      TEXT NOT NULL,
	uidvalidity INTEGER NOT NULL,
	uid         INTEGER NOT NULL,
	hash        BLOB NOT NULL,
	source      INTEGER NOT NULL DEFAULT 0,
	how         TEXT NOT NULL,
	at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_target ON ledger(target, folder, uidvalidity);
CREATE INDEX IF NOT EXISTS ledger_source ON ledger(target, source);
`

// searchSchemaSQL is the search index (search.go), in search.db
// (searchdb.go): one search_docs row per stored message, and its text in a
// contentless FTS5 table whose rowid is the search_docs id. Archives made
// before it get it on first use.
const searchSchemaSQL = `
CREATE TABLE IF NOT EXISTS search.search_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS search.search_docs (
	id          INTEGER PRIMARY KEY,
	hash        BLOB NOT NULL UNIQUE,
	date        INTEGER NOT NULL,
	attachments INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE IF NOT EXISTS search.search_fts USING fts5(hfrom, hto, hcc, subject, body,
	content='', tokenize='unicode61 remove_diacritics 2');
`

// migrateSchema is the one place that creates the index's tables and
// brings an older index up to date. It runs when a writer opens. Additions
// that version 1 readers can ignore go here, after schemaSQL; anything
// that changes the meaning of a table raises FormatVersion instead.
func migrateSchema(ctx context.Context, db *sql.DB, report progress.Reporter) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return err
	}
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='format_version'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := db.ExecContext(ctx, schemaSQL); err != nil {
			return err
		}
		_, err = db.ExecContext(ctx, `INSERT INTO meta(key,value) VALUES('format_version',?),('created_at',?)`,
			strconv.Itoa(FormatVersion), time.Now().UTC().Format(time.RFC3339))
		if err != nil {
			return err
		}
	case err != nil:
		return err
	case v == "1":
		// The first writer of a version 1 archive upgrades it in place
		// (upgrade.go), in one transaction: killed, it leaves version 1.
		if err := upgradeV1(ctx, db, report); err != nil {
			return fmt.Errorf("upgrade from format version 1: %w", err)
		}
	case v != strconv.Itoa(FormatVersion):
		return fmt.Errorf("format version %s; this mailkeep reads version %d", v, FormatVersion)
	}
	if _, err := db.ExecContext(ctx, schemaSQL); err != nil {
		return err
	}
	// commit_seq numbers the index's commits (see the commit file in
	// FORMAT.md); archives made before it start at 0.
	_, err = db.ExecContext(ctx, `INSERT INTO meta(key,value) VALUES('commit_seq','0') ON CONFLICT(key) DO NOTHING`)
	if err != nil {
		return err
	}
	return setupFolderStats(ctx, db) // folderstats.go
}

// commitSeq reads the number of the index's last commit.
func commitSeq(ctx context.Context, db *sql.DB) (int64, error) {
	var v string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='commit_seq'`).Scan(&v); err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}
