package archive

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"strconv"
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
	IncludeGone bool      // also places whose message left the server
	Since       time.Time // INTERNALDATE on or after
	Before      time.Time // INTERNALDATE before
	AsOf        time.Time // state as it was then: seen by then, not gone by then
}

// Messages iterates over the message places q selects, by account,
// folder, then UID (or first_seen for POP3).
func (r *Repo) Messages(ctx context.Context, q Query) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		sqlq := `SELECT m.id, m.folder, m.uidvalidity, m.uid, m.uidl, m.hash, m.size, m.flags, m.internaldate, m.modseq,
			m.first_seen, m.last_seen, m.gone_since, m.gone_reason, a.name, f.name,
			b.message_id, b.subject, b.sender, b.date_header, b.length
			FROM messages m JOIN folders f ON f.id=m.folder JOIN accounts a ON a.id=f.account JOIN blobs b ON b.hash=m.hash
			WHERE 1=1`
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
		if !q.AsOf.IsZero() {
			sqlq += ` AND m.first_seen<=? AND (m.gone_since=0 OR m.gone_since>?)`
			args = append(args, q.AsOf.Unix(), q.AsOf.Unix())
		} else if !q.IncludeGone {
			sqlq += ` AND m.gone_since=0`
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
			var flags, date string
			var first, last, gone int64
			err := rows.Scan(&e.ID, &e.Folder, &e.UIDValidity, &e.UID, &e.UIDL, &hash, &e.Size, &flags, &date, &e.ModSeq,
				&first, &last, &gone, &e.GoneReason, &e.Account, &e.FolderName,
				&e.Header.MessageID, &e.Header.Subject, &e.Header.From, &e.Header.Date, &e.Stored)
			if err != nil {
				yield(nil, err)
				return
			}
			copy(e.Hash[:], hash)
			e.Flags = SplitFlags(flags)
			if date != "" {
				e.InternalDate, _ = time.Parse(DateLayout, date)
			}
			e.FirstSeen, e.LastSeen, e.GoneSince = fromUnix(first), fromUnix(last), fromUnix(gone)
			if !q.Since.IsZero() && e.InternalDate.Before(q.Since) {
				continue
			}
			if !q.Before.IsZero() && !e.InternalDate.Before(q.Before) {
				continue
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
	Messages    int64 // on the server at the last backup (present places)
	Gone        int64 // places whose message left the server
	Size        int64 // raw bytes of present messages
	Stored      int64 // compressed bytes of the distinct messages of the folder
}

// Stats summarises the folders of account (all accounts if "").
func (r *Repo) Stats(ctx context.Context, account string) ([]FolderStats, error) {
	q := `SELECT ` + prefixCols("f.", folderCols) + `, a.name,
		(SELECT count(*) FROM messages m WHERE m.folder=f.id AND m.gone_since=0),
		(SELECT count(*) FROM messages m WHERE m.folder=f.id AND m.gone_since<>0),
		(SELECT coalesce(sum(m.size),0) FROM messages m WHERE m.folder=f.id AND m.gone_since=0),
		(SELECT coalesce(sum(b.length),0) FROM blobs b WHERE b.hash IN (SELECT hash FROM messages m WHERE m.folder=f.id))
		FROM folders f JOIN accounts a ON a.id=f.account`
	var args []any
	if account != "" {
		q += ` WHERE a.name=?`
		args = append(args, account)
	}
	q += ` ORDER BY a.name, f.name`
	rows, err := r.rdb.QueryContext(ctx, q, args...)
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
		err := rows.Scan(&f.ID, &f.Account, &f.Name, &f.Delimiter, &f.SpecialUse, &attrs, &f.Subscribed, &f.UIDValidity,
			&f.LastUID, &f.UIDNext, &f.HighestModSeq, &f.ServerCount, &first, &last, &gone,
			&s.AccountName, &s.Messages, &s.Gone, &s.Size, &s.Stored)
		if err != nil {
			return nil, err
		}
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
	err := r.rdb.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size),0), coalesce(sum(length),0) FROM blobs`).
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

// Run is one account's result of one run, for status and monitoring.
type Run struct {
	Account  string
	Job      string
	Kind     string // backup, migrate, cleanup, export, import, restore
	Started  time.Time
	Finished time.Time
	OK       bool
	Messages int64
	Bytes    int64
	Errors   int64
	Error    string
}

// RecordRun stores a run's result (committed at the next Commit).
func (r *Repo) RecordRun(ctx context.Context, run Run) error {
	return r.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.WithoutCancel(ctx), `INSERT INTO runs(account, job, kind, started, finished, ok, messages, bytes, errors, error)
			VALUES(?,?,?,?,?,?,?,?,?,?)`, run.Account, run.Job, run.Kind, run.Started.Unix(), run.Finished.Unix(), run.OK,
			run.Messages, run.Bytes, run.Errors, run.Error)
		return err
	})
}

// Runs returns recorded runs, newest first, for account ("" = all).
func (r *Repo) Runs(ctx context.Context, account string, limit int) ([]Run, error) {
	q := `SELECT account, job, kind, started, finished, ok, messages, bytes, errors, error FROM runs`
	var args []any
	if account != "" {
		q += ` WHERE account=?`
		args = append(args, account)
	}
	q += ` ORDER BY finished DESC, id DESC`
	if limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := r.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var run Run
		var s, f int64
		if err := rows.Scan(&run.Account, &run.Job, &run.Kind, &s, &f, &run.OK, &run.Messages, &run.Bytes, &run.Errors, &run.Error); err != nil {
			return nil, err
		}
		run.Started, run.Finished = fromUnix(s), fromUnix(f)
		out = append(out, run)
	}
	return out, rows.Err()
}
