package archive

// schemaV1SQL is the index's schema of format version 1 (FORMAT.md before
// version 2), as schema.go had it, verbatim. Nothing creates a version 1
// index any more: it is kept for the upgrade to version 2 (upgrade.go),
// the test fixtures of version 1 archives, and the reader shim that lets a
// version 1 archive be read without upgrading it (upgrade_shim.go).
// Version 1 also had, created on first use, ledger.flags and
// pending_deletes (pendingSQL); version 2 keeps both as they were.
const schemaV1SQL = `
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
	hash        BLOB PRIMARY KEY,
	pack        INTEGER NOT NULL REFERENCES packs(id),
	offset      INTEGER NOT NULL,
	length      INTEGER NOT NULL,
	size        INTEGER NOT NULL,
	stored_at   INTEGER NOT NULL,
	message_id  TEXT NOT NULL DEFAULT '',
	subject     TEXT NOT NULL DEFAULT '',
	sender      TEXT NOT NULL DEFAULT '',
	date_header TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blobs_message_id ON blobs(message_id);
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
	id           INTEGER PRIMARY KEY,
	folder       INTEGER NOT NULL REFERENCES folders(id),
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
	gone_reason  TEXT NOT NULL DEFAULT '',
	UNIQUE(folder, uidvalidity, uid, uidl)
);
CREATE INDEX IF NOT EXISTS messages_hash ON messages(hash);
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
