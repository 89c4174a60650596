package archive

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"strings"
	"time"
)

// Entry is a message place with what ls and export need to show it.
type Entry struct {
	Message
	Account    string
	FolderName string
	Header     HeaderInfo
	Stored     int64 // compressed length of the stored copy
}

// Query selects message places. Zero values mean "any".
type Query struct {
	Account     string
	Folder      string // exact folder name
	FolderID    int64
	AfterID     int64          // only places with a larger id (newer than that one)
	PlaceID     int64          // only the place with this id
	Only        map[int64]bool // only these place ids (search results); nil: any
	IncludeGone bool           // also places deleted on the server (mail mailkeep took off it is always included)
	Since       time.Time      // INTERNALDATE on or after
	Before      time.Time      // INTERNALDATE before
	AsOf        time.Time      // state as it was then: seen by then, not gone by then
	NoHeaders   bool           // leave Entry.Header empty (it is read from the stored message: a read per place)
}

// Messages iterates over the message places q selects, by account,
// folder, then UID (or first_seen for POP3).
func (r *Repo) Messages(ctx context.Context, q Query) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		sqlq := `SELECT m.id, m.folder, m.uidvalidity, m.uid, m.uidl, b.hash, m.size, ` + flagsSQL("m") + `, m.date, m.tz,
			m.first_seen, m.gone_since, m.gone_reason, a.name, f.name, b.length, b.pack, b.offset
			FROM messages m JOIN folders f ON f.id=m.folder JOIN accounts a ON a.id=f.account JOIN blobs b ON b.id=m.blob
			WHERE b.pack<>0`
		var args []any
		if q.Account != "" {
			sqlq += ` AND a.name=?`
			args = append(args, q.Account)
		}
		if q.Folder != "" {
			sqlq += ` AND f.name=?`
			args = append(args, q.Folder)
		}
		if q.FolderID != 0 {
			sqlq += ` AND f.id=?`
			args = append(args, q.FolderID)
		}
		if q.PlaceID != 0 {
			sqlq += ` AND m.id=?`
			args = append(args, q.PlaceID)
		}
		if q.AfterID != 0 {
			sqlq += ` AND m.id>?`
			args = append(args, q.AfterID)
		}
		if !q.AsOf.IsZero() {
			sqlq += ` AND ` + AsOfSQL("m")
			args = append(args, q.AsOf.Unix(), q.AsOf.Unix())
		} else if !q.IncludeGone {
			sqlq += ` AND ` + KeptSQL("m")
		}
		sqlq += ` ORDER BY a.name, f.name, m.uidvalidity, m.uid, m.first_seen, m.id`
		rows, err := r.rdb.QueryContext(ctx, sqlq, args...)
		if err != nil {
			yield(nil, fmt.Errorf("index: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			e := &Entry{}
			var hash []byte
			var flags string
			var date, tz any
			var first, gone, pack, off int64
			err := rows.Scan(&e.ID, &e.Folder, &e.UIDValidity, &e.UID, &e.UIDL, &hash, &e.Size, &flags, &date, &tz,
				&first, &gone, &e.GoneReason, &e.Account, &e.FolderName, &e.Stored, &pack, &off)
			if err != nil {
				yield(nil, err)
				return
			}
			copy(e.Hash[:], hash)
			e.Flags = SplitFlags(flags)
			var undated bool // no INTERNALDATE: dated by its Date: header, or when it was first seen
			e.InternalDate, undated = scanPlaceDate(date, tz)
			e.FirstSeen, e.GoneSince = fromUnix(first), fromUnix(gone)
			if e.InternalDate.IsZero() {
				e.InternalDate = e.FirstSeen
			}
			if q.Only != nil && !q.Only[e.ID] {
				continue
			}
			if !q.Since.IsZero() && e.InternalDate.Before(q.Since) {
				continue
			}
			if !q.Before.IsZero() && !e.InternalDate.Before(q.Before) {
				continue
			}
			if !q.NoHeaders {
				// The header fields are not in the index (FORMAT.md): read
				// them from the stored message.
				e.Header = r.headerOf(Blob{Hash: e.Hash, Pack: pack, Offset: off, Length: e.Stored, Size: e.Size})
				if undated {
					// Dated by its Date: header: shown in the header's own zone.
					if t, ok := ParseDateHeader(e.Header.Date); ok {
						e.InternalDate = t
					}
				}
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// FolderStats summarises one folder for ls.
type FolderStats struct {
	Folder
	AccountName string
	Messages    int64 // archived places every view shows: on the server at the last backup, or taken off it by mailkeep
	OffServer   int64 // of Messages, those mailkeep took off the server (POP3 delete, cleanup)
	Gone        int64 // places deleted on the server (not in Messages)
	Size        int64 // raw bytes of the Messages
	Stored      int64 // compressed bytes of the distinct messages of the folder
}

// Stats summarises the folders of account (all accounts if ""). It reads
// folder_stats (folderstats.go), a row a folder, where the index keeps it,
// and otherwise counts the places; one read transaction either way.
func (r *Repo) Stats(ctx context.Context, account string) ([]FolderStats, error) {
	tx, err := r.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer tx.Rollback()
	tail, ok, err := statsTail(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	figures := `coalesce(s.places,0), coalesce(s.kept,0), coalesce(s.off_server,0), coalesce(s.kept_size,0), coalesce(s.stored,0)
		FROM folders f JOIN accounts a ON a.id=f.account LEFT JOIN folder_stats s ON s.folder=f.id`
	if !ok {
		figures = folderFiguresSQL + ` FROM folders f JOIN accounts a ON a.id=f.account`
	}
	q := `SELECT ` + prefixCols("f.", folderCols) + `, a.name, ` + figures
	var args []any
	if account != "" {
		q += ` WHERE a.name=?`
		args = append(args, account)
	}
	q += ` ORDER BY a.name, f.name`
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var out []FolderStats
	for rows.Next() {
		var s FolderStats
		f := &s.Folder
		var attrs string
		var first, last, gone int64
		var n folderFigures
		err := rows.Scan(&f.ID, &f.Account, &f.Name, &f.Delimiter, &f.SpecialUse, &attrs, &f.Subscribed, &f.UIDValidity,
			&f.LastUID, &f.UIDNext, &f.HighestModSeq, &f.ServerCount, &first, &last, &gone,
			&s.AccountName, &n.places, &n.kept, &n.offServer, &n.keptSize, &n.stored)
		if err != nil {
			return nil, err
		}
		t := tail[f.ID]
		s.Messages, s.OffServer, s.Size, s.Stored = n.kept+t.kept, n.offServer+t.offServer, n.keptSize+t.keptSize, n.stored+t.stored
		s.Gone = n.places + t.places - s.Messages
		f.Attrs = SplitFlags(attrs)
		f.FirstSeen, f.LastSeen, f.GoneSince = fromUnix(first), fromUnix(last), fromUnix(gone)
		out = append(out, s)
	}
	return out, rows.Err()
}

// prefixCols qualifies each of a comma-separated column list with p.
func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// Totals describes the whole repository.
type Totals struct {
	Blobs     int64 // distinct messages stored
	RawBytes  int64 // their raw size
	Stored    int64 // their compressed size
	PackBytes int64 // size of the data files
	Places    int64 // message places (a message in two folders counts twice)
}

// Totals sums up the repository.
func (r *Repo) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	err := r.rdb.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size),0), coalesce(sum(length),0) FROM blobs WHERE pack<>0`).
		Scan(&t.Blobs, &t.RawBytes, &t.Stored)
	if err != nil {
		return t, err
	}
	if err := r.rdb.QueryRowContext(ctx, `SELECT coalesce(sum(size),0) FROM packs`).Scan(&t.PackBytes); err != nil {
		return t, err
	}
	err = r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&t.Places)
	return t, err
}
