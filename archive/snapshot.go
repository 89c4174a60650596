package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

// This file is what an off-site copy (internal/offsite) needs from the
// format: a consistent copy of the index, the packs it names, and an
// archive rebuilt around a downloaded index.

// PackInfo is one row of the packs table.
type PackInfo struct {
	ID     int64
	Name   string // file name under data/
	Size   int64  // committed length: bytes past it are not part of the archive
	Sealed bool
}

// SnapshotIndex writes a consistent copy of the index to path (SQLite's
// VACUUM INTO, inside one read transaction): every pack byte it names was
// synced before it was committed, so the copy and the packs' first Size
// bytes form a complete archive. It runs beside a writer without
// blocking it. path must not exist.
func (r *Repo) SnapshotIndex(ctx context.Context, path string) error {
	err := r.unshimmed(ctx, func(c *sql.Conn) error { // a version 1 archive's copy is version 1 (upgrade_shim.go)
		_, err := c.ExecContext(ctx, `VACUUM INTO ?`, path)
		return err
	})
	if err != nil {
		return fmt.Errorf("index snapshot %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	return nil
}

// IndexPacks lists the packs an index file (a snapshot) names.
func IndexPacks(ctx context.Context, path string) ([]PackInfo, error) {
	db, err := sql.Open("sqlite", plainDSN(path, true))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := checkVersion(ctx, db, path); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT id, name, size, sealed FROM packs ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	defer rows.Close()
	var out []PackInfo
	for rows.Next() {
		var p PackInfo
		if err := rows.Scan(&p.ID, &p.Name, &p.Size, &p.Sealed); err != nil {
			return nil, fmt.Errorf("index %s: %w", path, err)
		}
		if !packNameRE.MatchString(p.Name) {
			return nil, fmt.Errorf("index %s: pack %d has the name %q, not NNNNNNNN.pack", path, p.ID, p.Name)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// plainDSN opens a lone index file (no WAL: a snapshot is one file).
func plainDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		q.Set("mode", "ro")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// checkVersion reads an index file's format version: this one, or 1 (a
// version 1 archive's snapshot: its packs table is the same; InstallIndex
// upgrades it).
func checkVersion(ctx context.Context, db *sql.DB, path string) (int, error) {
	var v string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='format_version'`).Scan(&v); err != nil {
		return 0, fmt.Errorf("index %s: cannot read format version: %w", path, err)
	}
	n, _ := strconv.Atoi(v)
	if n != FormatVersion && n != 1 {
		return 0, fmt.Errorf("index %s has format version %s; this mailkeep reads versions 1 and %d", path, v, FormatVersion)
	}
	return n, nil
}

// InstallIndex makes dir an archive around the index file at index (a
// downloaded snapshot, moved into place). The packs it names are expected
// under dir/data already, except with indexOnly: then every pack is
// marked sealed, so a writer starts a new pack (numbered after every pack
// the index names) instead of appending to one it does not have. The
// marker is written last: until then dir is not an archive.
func InstallIndex(ctx context.Context, dir, index string, indexOnly bool) error {
	if _, err := os.Stat(filepath.Join(dir, "mailkeep-archive")); err == nil {
		return fmt.Errorf("%s already holds an archive", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", plainDSN(index, false))
	if err != nil {
		return err
	}
	v, err := checkVersion(ctx, db, index)
	if err == nil && v == 1 {
		// A version 1 archive's copy: upgraded before it is installed
		// (upgrade.go), so the archive made around it is version 2.
		_, err = convertIndex(ctx, db, nil)
	}
	if err == nil && indexOnly {
		_, err = db.ExecContext(ctx, `UPDATE packs SET sealed=1 WHERE sealed=0`)
	}
	if err == nil && indexOnly {
		// Repair must not take the packs that are elsewhere for lost.
		_, err = db.ExecContext(ctx, `INSERT OR REPLACE INTO meta(key, value) VALUES('packs_elsewhere', '1')`)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("index %s: %w", index, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(index + suffix)
	}
	f, err := os.OpenFile(index, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Rename(index, filepath.Join(dir, "index.db")); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := syncDir(filepath.Join(dir, "data")); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "mailkeep-archive"), []byte(formatMarker), 0o600)
}
