package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The run history (table runs) is what status, the metrics and the job
// runner's back-off and daily budgets read. Ids grow with every recorded
// run, so "newer" is "larger id" even when two runs finish in the same
// second. Every method here reads committed rows.

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
	Error    string // RunInterrupted: stopped by a signal, not a failure
}

// RunInterrupted is the Error of a run stopped by SIGINT or SIGTERM. Such
// a run is neither a success nor a failure: it counts toward no back-off
// and no "failed in a row".
const RunInterrupted = "interrupted"

// Interrupted reports whether the run was stopped by a signal.
func (r *Run) Interrupted() bool { return !r.OK && r.Error == RunInterrupted }

// failed is the SQL condition of a failed run (interrupted ones are not).
const failed = `NOT ok AND error <> '` + RunInterrupted + `'`

const runCols = `account, job, kind, started, finished, ok, messages, bytes, errors, error`

func scanRun(s scanner) (*Run, error) {
	var run Run
	var st, f int64
	if err := s.Scan(&run.Account, &run.Job, &run.Kind, &st, &f, &run.OK, &run.Messages, &run.Bytes, &run.Errors, &run.Error); err != nil {
		return nil, err
	}
	run.Started, run.Finished = fromUnix(st), fromUnix(f)
	return &run, nil
}

// RecordRun stores a run's result (committed at the next Commit).
func (r *Repo) RecordRun(ctx context.Context, run Run) error {
	return r.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.WithoutCancel(ctx), `INSERT INTO runs(`+runCols+`)
			VALUES(?,?,?,?,?,?,?,?,?,?)`, run.Account, run.Job, run.Kind, run.Started.Unix(), run.Finished.Unix(), run.OK,
			run.Messages, run.Bytes, run.Errors, run.Error)
		return err
	})
}

// Runs returns recorded runs, newest first, for account ("" = all).
func (r *Repo) Runs(ctx context.Context, account string, limit int) ([]Run, error) {
	q := `SELECT ` + runCols + ` FROM runs`
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
		return nil, fmt.Errorf("index: run history: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		run, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("index: run history: %w", err)
		}
		out = append(out, *run)
	}
	return out, rows.Err()
}

// RunAccounts lists the accounts that have runs of kind, by name. It
// skips from account to account through runs_account (a few lookups an
// account) instead of reading every run: 100,000 runs took 0.27 s, more
// than half of a status.
func (r *Repo) RunAccounts(ctx context.Context, kind string) ([]string, error) {
	rows, err := r.rdb.QueryContext(ctx, `WITH RECURSIVE acct(name) AS (
			SELECT min(account) FROM runs
			UNION ALL SELECT (SELECT min(account) FROM runs WHERE account > acct.name) FROM acct WHERE acct.name IS NOT NULL)
		SELECT name FROM acct WHERE name IS NOT NULL AND EXISTS (SELECT 1 FROM runs WHERE account=acct.name AND kind=?)
		ORDER BY name`, kind)
	if err != nil {
		return nil, fmt.Errorf("index: run history: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("index: run history: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Health is what the history says about one account's backups.
type Health struct {
	Account     string
	LastSuccess *Run // newest successful backup; nil: never
	LastBackup  *Run // newest backup run, good or not
	LastFailure *Run // newest failed run of any kind
	Failures    int  // failed backup runs since the last good one
}

// Health reads the account's backup health from the run history.
func (r *Repo) Health(ctx context.Context, account string) (*Health, error) {
	h := &Health{Account: account}
	last := func(where string) (*Run, error) {
		run, err := scanRun(r.rdb.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE account=? AND `+where+` ORDER BY id DESC LIMIT 1`, account))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return run, err
	}
	var err error
	if h.LastSuccess, err = last(`kind='backup' AND ok`); err != nil {
		return nil, fmt.Errorf("run history of %s: %w", account, err)
	}
	if h.LastBackup, err = last(`kind='backup'`); err != nil {
		return nil, fmt.Errorf("run history of %s: %w", account, err)
	}
	if h.LastFailure, err = last(failed); err != nil {
		return nil, fmt.Errorf("run history of %s: %w", account, err)
	}
	err = r.rdb.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE account=? AND kind='backup' AND `+failed+`
		AND id > coalesce((SELECT max(id) FROM runs WHERE account=? AND kind='backup' AND ok), 0)`, account, account).Scan(&h.Failures)
	if err != nil {
		return nil, fmt.Errorf("run history of %s: %w", account, err)
	}
	return h, nil
}

// JobFailures counts the account's failed runs of job since its last
// good one, and returns when the newest of them started.
func (r *Repo) JobFailures(ctx context.Context, account, job string) (n int, lastStart time.Time, err error) {
	var s sql.NullInt64
	err = r.rdb.QueryRowContext(ctx, `SELECT count(*), max(started) FROM runs WHERE account=? AND job=? AND `+failed+`
		AND id > coalesce((SELECT max(id) FROM runs WHERE account=? AND job=? AND ok), 0)`, account, job, account, job).Scan(&n, &s)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("run history of %s: %w", account, err)
	}
	return n, fromUnix(s.Int64), nil
}

// DownloadKinds are the run kinds whose bytes were fetched from the
// account's server, and so count against its max_bytes_per_day.
var DownloadKinds = []string{"backup", "migrate", "cleanup"}

// BytesSince sums the bytes that the account's runs of DownloadKinds
// which finished at or after since fetched from its server. A run still
// going, or killed before it recorded itself, is not counted.
func (r *Repo) BytesSince(ctx context.Context, account string, since time.Time) (int64, error) {
	var n int64
	err := r.rdb.QueryRowContext(ctx, `SELECT coalesce(sum(bytes),0) FROM runs WHERE account=? AND kind IN (?,?,?) AND finished >= ?`,
		account, DownloadKinds[0], DownloadKinds[1], DownloadKinds[2], since.Unix()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("run history of %s: %w", account, err)
	}
	return n, nil
}

// RunGroup is the history of one account in one job and kind.
type RunGroup struct {
	Account, Job, Kind string
	Runs, OK           int64
	Messages, Bytes    int64
	Errors             int64
	LastSuccess        time.Time // zero: never
	Last               Run
	Failures           int64 // failed runs since the last good one
}

// RunGroups sums the history up per account, job and kind, for metrics.
func (r *Repo) RunGroups(ctx context.Context) ([]RunGroup, error) {
	rows, err := r.rdb.QueryContext(ctx, `
WITH g AS (
	SELECT account, job, kind, count(*) AS n, sum(ok) AS nok, sum(messages) AS m, sum(bytes) AS b, sum(errors) AS e,
		max(CASE WHEN ok THEN finished ELSE 0 END) AS lastok, max(CASE WHEN ok THEN id ELSE 0 END) AS okid, max(id) AS lastid
	FROM runs GROUP BY account, job, kind)
SELECT g.account, g.job, g.kind, g.n, g.nok, g.m, g.b, g.e, g.lastok,
	r.started, r.finished, r.ok, r.messages, r.bytes, r.errors, r.error,
	(SELECT count(*) FROM runs f WHERE f.account=g.account AND f.job=g.job AND f.kind=g.kind AND NOT f.ok AND f.error <> '`+RunInterrupted+`' AND f.id > g.okid)
FROM g JOIN runs r ON r.id = g.lastid
ORDER BY g.account, g.job, g.kind`)
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	defer rows.Close()
	var out []RunGroup
	for rows.Next() {
		var g RunGroup
		var lastOK, s, f int64
		if err := rows.Scan(&g.Account, &g.Job, &g.Kind, &g.Runs, &g.OK, &g.Messages, &g.Bytes, &g.Errors, &lastOK,
			&s, &f, &g.Last.OK, &g.Last.Messages, &g.Last.Bytes, &g.Last.Errors, &g.Last.Error, &g.Failures); err != nil {
			return nil, fmt.Errorf("run history: %w", err)
		}
		g.LastSuccess = fromUnix(lastOK)
		g.Last.Account, g.Last.Job, g.Last.Kind = g.Account, g.Job, g.Kind
		g.Last.Started, g.Last.Finished = fromUnix(s), fromUnix(f)
		out = append(out, g)
	}
	return out, rows.Err()
}
