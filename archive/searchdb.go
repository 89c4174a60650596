package archive

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
)

// The search index lives in its own file, search.db, attached to every
// index connection as schema "search". It is derived data: rebuilt from
// the packs when missing (BuildSearchIndex), never pushed off-site, and
// so it does not grow the index snapshots that are.

// searchFile is the search index's file in an archive directory.
func searchFile(dir string) string { return filepath.Join(dir, "search.db") }

// openIndexDB opens a pool of index connections with search.db attached.
// A writer creates search.db (0600) when missing; a reader attaches it
// only when it exists (queries then report the index as missing).
func openIndexDB(dsn, dir string, how int, writer bool) (*sql.DB, error) {
	path := searchFile(dir)
	if writer {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("search index %s: %w", path, err)
		}
		f.Close()
	}
	// Readers attach it read-only, as they open the index (repo.go): on
	// a read-only archive they could not otherwise.
	attach := sqliteDSN(path, how)
	if how == dbWriter {
		attach = path
	}
	return sql.OpenDB(&attachConnector{dsn: dsn, search: path, attach: attach, writer: writer, how: how}), nil
}

type attachConnector struct {
	dsn, search string
	attach      string // what ATTACH is given: search, or its read-only URI
	writer      bool
	how         int // dbWriter, dbReader, dbImmutable
}

func (c *attachConnector) Driver() driver.Driver { return &sqlite.Driver{} }

func (c *attachConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := (&sqlite.Driver{}).Open(c.dsn)
	if err != nil {
		return nil, err
	}
	if !c.writer && c.how != dbWriter {
		// A reader of a version 1 archive reads it through the shim
		// (upgrade_shim.go); a writer's readers see it upgraded.
		if conn, err = shimV1(ctx, conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("index: version 1 reader views: %w", err)
		}
	}
	if !c.writer {
		if _, err := os.Stat(c.search); err != nil {
			return conn, nil
		}
	}
	ex := conn.(driver.ExecerContext)
	// A small page cache for search.db on every connection: the writer
	// only appends to it and the OS caches the file anyway; SQLite's
	// default 2 MB a database a connection (five connections) was most of
	// what a backup's RSS grew by with the index.
	stmts := []string{`ATTACH DATABASE ? AS search`, `PRAGMA search.cache_size=-512`}
	if c.writer {
		// Derived data: a crash may lose its last transaction, which the
		// next search rebuilds; NORMAL saves an fsync per commit.
		stmts = append(stmts, `PRAGMA search.journal_mode=WAL`, `PRAGMA search.synchronous=NORMAL`)
	}
	for i, q := range stmts {
		var args []driver.NamedValue
		if i == 0 {
			args = []driver.NamedValue{{Ordinal: 1, Value: c.attach}}
		}
		if _, err := ex.ExecContext(ctx, q, args); err != nil {
			if !c.writer {
				return conn, nil // searched as missing
			}
			conn.Close()
			return nil, fmt.Errorf("search index %s: %w", c.search, err)
		}
	}
	return conn, nil
}
