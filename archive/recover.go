package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// What a writer finds when it opens the repository (FORMAT.md, "Crash
// safety"): bytes in the data files that the index does not explain are
// never deleted. They are either the tail of this writer protocol's own
// interrupted transaction, which is indexed again, or a sign that the
// index is older than the data (lost, restored from an old copy), and
// then the writer refuses until repair has run.

// ErrNeedsRepair is wrapped by the error of a writer that will not write
// into an archive whose data files the index does not explain.
var ErrNeedsRepair = errors.New("archive needs repair")

// NeedsRepairError says why a writer refused.
type NeedsRepairError struct {
	Dir      string
	Problems []string
}

func (e *NeedsRepairError) Error() string {
	return fmt.Sprintf("archive %s: %s; nothing was written: run 'mailkeep repair' first", e.Dir, strings.Join(e.Problems, "; "))
}

func (e *NeedsRepairError) Unwrap() error { return ErrNeedsRepair }

// commitFile is written after every index commit with the commit's
// number. An index whose own number is lower than the file's is older
// than the data files written by later commits.
const commitFile = "commit"

func readCommitFile(dir string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, commitFile))
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "mailkeep commit ")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// writeCommitFile records commit n. It is not synced: after a power loss
// it may name an earlier commit (or be empty), which only weakens the
// check, never makes a good index look old.
func writeCommitFile(dir string, n int64) error {
	tmp := filepath.Join(dir, "."+commitFile+".tmp")
	if err := os.WriteFile(tmp, []byte("mailkeep commit "+strconv.FormatInt(n, 10)+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, commitFile))
}

type packRow struct {
	id, size int64
	name     string
	sealed   bool
}

// packTail is a range of a data file past what the index explains.
type packTail struct {
	id    int64
	name  string
	from  int64 // committed length (0 for a file the index never had)
	known bool  // the index has a row for the pack
}

// packCheck is what the data directory holds against the index.
type packCheck struct {
	rows     []packRow
	files    map[string]int64 // pack file name -> size
	tails    []packTail
	problems []string // a writer refuses
	missing  []string // sealed data files that are not here
}

func (r *Repo) packRows(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]packRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, size, sealed FROM packs ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var out []packRow
	for rows.Next() {
		var p packRow
		if err := rows.Scan(&p.id, &p.name, &p.size, &p.sealed); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func packFiles(dir string) (map[string]int64, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "data"))
	if err != nil {
		return nil, fmt.Errorf("archive data: %w", err)
	}
	out := map[string]int64{}
	for _, e := range ents {
		if !packNameRE.MatchString(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("archive data: %w", err)
		}
		out[e.Name()] = info.Size()
	}
	return out, nil
}

func packID(name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(name, ".pack"), 10, 64)
	return n
}

// checkPacks compares the data files with the index. indexLost is set
// when index.db did not exist before this open.
func (r *Repo) checkPacks(ctx context.Context, indexLost bool) (*packCheck, error) {
	pc := &packCheck{}
	var err error
	db, seq := r.wdb, r.seq
	if db == nil {
		db = r.rdb
		seq, _ = commitSeq(ctx, db) // an archive older than commit numbers: 0
	}
	if pc.rows, err = r.packRows(ctx, db); err != nil {
		return nil, err
	}
	if pc.files, err = packFiles(r.dir); err != nil {
		return nil, err
	}
	if indexLost && len(pc.files) > 0 {
		pc.problems = append(pc.problems, "index.db is missing but data/ holds "+dataFiles(len(pc.files)))
		return pc, nil
	}
	known := map[string]bool{}
	var maxID int64
	for i, p := range pc.rows {
		known[p.name] = true
		maxID = max(maxID, p.id)
		size, ok := pc.files[p.name]
		last := i == len(pc.rows)-1
		switch {
		case !ok && p.sealed:
			// Writers never touch a sealed data file, and an archive made
			// from an off-site index alone has none of them here.
			pc.missing = append(pc.missing, fmt.Sprintf("data file %s is missing", p.name))
		case !ok:
			pc.problems = append(pc.problems, fmt.Sprintf("data file %s is missing", p.name))
		case size < p.size:
			pc.problems = append(pc.problems, fmt.Sprintf("data file %s is %d bytes but the index says %d (truncated)", p.name, size, p.size))
		case size > p.size && (p.sealed || !last):
			pc.problems = append(pc.problems, fmt.Sprintf("data file %s holds %d bytes the index does not explain", p.name, size-p.size))
		case size > p.size:
			pc.tails = append(pc.tails, packTail{id: p.id, name: p.name, from: p.size, known: true})
		}
	}
	if r.wdb == nil && LockHolder(r.dir) != "" {
		// A writer is at work: what it has not committed yet is no
		// concern of a reader's.
		pc.tails = nil
		return pc, nil
	}
	var unknown []string
	for name := range pc.files {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	next := maxID + 1
	for _, name := range unknown {
		if retiredPack(ctx, db, name) {
			continue // repair --encrypt replaced it and was stopped before deleting it (seal_repair.go)
		}
		// Only the data files the interrupted transaction began, numbered
		// on from the last one the index has, can be its tail.
		if id := packID(name); id == next {
			pc.tails = append(pc.tails, packTail{id: id, name: name})
			next++
			continue
		}
		pc.problems = append(pc.problems, fmt.Sprintf("data file %s is not in the index", name))
	}
	if head, ok := readCommitFile(r.dir); ok && head > seq && len(pc.tails) > 0 {
		pc.problems = append(pc.problems, fmt.Sprintf("index.db is older than the data files (the index is at commit %d, the data files at commit %d)", seq, head))
	}
	return pc, nil
}

// recoverPacks runs when a writer opens the repository: it refuses an
// archive whose data the index does not explain, and indexes again the
// messages an interrupted transaction of this writer protocol left past
// the committed end of its data files.
func (r *Repo) recoverPacks(ctx context.Context, indexLost bool) error {
	ctx = context.WithoutCancel(ctx)
	os.RemoveAll(filepath.Join(r.dir, "tmp"))
	pc, err := r.checkPacks(ctx, indexLost)
	if err != nil {
		return err
	}
	if len(pc.problems) > 0 {
		return &NeedsRepairError{Dir: r.dir, Problems: pc.problems}
	}
	if head, ok := readCommitFile(r.dir); ok && head > r.seq {
		// The index lost only commits that wrote no data (flags, run
		// records): continue numbering after the newest.
		r.seq = head
	}
	if len(pc.tails) > 0 {
		if err := r.reindexTails(ctx, pc); err != nil {
			return err
		}
		if pc.rows, err = r.packRows(ctx, r.wdb); err != nil {
			return err
		}
	}
	if len(pc.rows) == 0 {
		return nil
	}
	last := pc.rows[len(pc.rows)-1]
	if last.sealed {
		return nil
	}
	path := filepath.Join(r.dir, "data", last.name)
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open pack: %w", err)
	}
	r.pack = &packWriter{id: last.id, path: path, f: f, size: last.size, committed: last.size}
	return nil
}

// reindexTails records the whole messages found in the tails as blobs
// (no place refers to them yet: the next backup finds them stored and
// records where they belong). What follows the last whole message, an
// unfinished write, is copied into lost+found before the data file is cut
// back to the end of that message.
func (r *Repo) reindexTails(ctx context.Context, pc *packCheck) error {
	var notes []string
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		r.filter = nil // rows added here, not through putFrame (bloom.go)
		for i, t := range pc.tails {
			path := filepath.Join(r.dir, "data", t.name)
			res, err := r.scanPack(path, t.from)
			if err != nil {
				return err
			}
			end := res.Size
			if len(res.Gaps) > 0 {
				end = res.Gaps[0].Start
			}
			for _, m := range res.Messages {
				if m.Unchecked && m.Start < end {
					// Encrypted, and opened before the identity was given:
					// kept aside from here, fetched again by the backup.
					end = m.Start
				}
			}
			n, err := insertScanned(ctx, tx, t.id, res.Messages, end)
			if err != nil {
				return err
			}
			if end < res.Size {
				kept, err := r.keepAside(path, end, res.Size)
				if err != nil {
					return err
				}
				notes = append(notes, fmt.Sprintf("%d bytes of an unfinished write at the end of %s were moved to %s", res.Size-end, t.name, kept))
			}
			if n > 0 {
				notes = append(notes, fmt.Sprintf("%d messages an interrupted run left in %s were indexed again", n, t.name))
			}
			if err := syncFile(path); err != nil {
				return err
			}
			sealed := i < len(pc.tails)-1
			if t.known {
				_, err = tx.ExecContext(ctx, `UPDATE packs SET size=?, sealed=? WHERE id=?`, end, sealed, t.id)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO packs(id, name, size, sealed) VALUES(?,?,?,?)`, t.id, t.name, end, sealed)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover interrupted writes: %w", err)
	}
	if err := r.Commit(ctx); err != nil {
		return err
	}
	for _, n := range notes {
		r.warn(n)
	}
	return nil
}

// insertScanned adds blob rows for scanned messages below end that the
// index does not hold yet, and returns how many it added.
func insertScanned(ctx context.Context, tx *sql.Tx, pack int64, ms []scanned, end int64) (int, error) {
	n := 0
	for _, m := range ms {
		if m.End() > end {
			break
		}
		k, err := addScanned(ctx, tx, pack, m)
		if err != nil {
			return n, err
		}
		n += int(k)
	}
	return n, nil
}

// addScanned records a message found in a pack: a new blob, or the copy a
// missing blob (pack 0) lacked; nothing when the hash is stored already.
// It returns 1 when it recorded something.
func addScanned(ctx context.Context, tx *sql.Tx, pack int64, m scanned) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE blobs SET pack=?, offset=?, length=?, size=?
		WHERE substr(hash,1,8)=substr(?5,1,8) AND hash=?5 AND pack=0`, pack, m.Offset, m.Length, m.Size, m.Hash[:])
	if err != nil {
		return 0, err
	}
	if k, _ := res.RowsAffected(); k > 0 {
		return k, nil
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO blobs(hash, pack, offset, length, size) SELECT ?1,?2,?3,?4,?5
		WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE substr(hash,1,8)=substr(?1,1,8) AND hash=?1)`,
		m.Hash[:], pack, m.Offset, m.Length, m.Size)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// keepAside copies bytes [from, to) of the data file at path into
// lost+found (synced), then cuts the data file back to from.
func (r *Repo) keepAside(path string, from, to int64) (string, error) {
	lf := filepath.Join(r.dir, "lost+found")
	if err := os.MkdirAll(lf, 0o700); err != nil {
		return "", err
	}
	src, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer src.Close()
	base := fmt.Sprintf("%s.%d", filepath.Base(path), from)
	name := filepath.Join(lf, base)
	var dst *os.File
	for i := 1; ; i++ {
		dst, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, os.ErrExist) {
			break
		}
		name = filepath.Join(lf, fmt.Sprintf("%s.%d", base, i))
	}
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, from, to-from))
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(lf)
	}
	if err != nil {
		return "", fmt.Errorf("keep %s from %d aside: %w", path, from, err)
	}
	if err := src.Truncate(from); err != nil {
		return "", err
	}
	if err := src.Sync(); err != nil {
		return "", err
	}
	return filepath.Join("lost+found", filepath.Base(name)), nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func dataFiles(n int) string {
	if n == 1 {
		return "1 data file"
	}
	return strconv.Itoa(n) + " data files"
}
