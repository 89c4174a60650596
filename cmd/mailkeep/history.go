package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// The run history (the archive's runs table, see archive/FORMAT.md) is
// what 'status', the metrics and the job runner's back-off and daily
// budgets read. Ids grow with every recorded run, so "newer" is "larger
// id" even when two runs finish in the same second.

const runColumns = `account, job, kind, started, finished, ok, messages, bytes, errors, error`

func scanRun(row interface{ Scan(...any) error }) (*archive.Run, error) {
	var run archive.Run
	var s, f int64
	err := row.Scan(&run.Account, &run.Job, &run.Kind, &s, &f, &run.OK, &run.Messages, &run.Bytes, &run.Errors, &run.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	run.Started, run.Finished = unixTime(s), unixTime(f)
	return &run, nil
}

func unixTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// accountHealth is what the history says about one account's backups.
type accountHealth struct {
	Account     string
	LastSuccess *archive.Run // newest successful backup; nil: never
	LastBackup  *archive.Run // newest backup run, good or not
	LastFailure *archive.Run // newest failed run of any kind
	Failures    int          // failed backup runs since the last good one
}

func healthOf(ctx context.Context, db *sql.DB, account string) (*accountHealth, error) {
	h := &accountHealth{Account: account}
	var err error
	q := func(where string) (*archive.Run, error) {
		return scanRun(db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE account=? AND `+where+` ORDER BY id DESC LIMIT 1`, account))
	}
	if h.LastSuccess, err = q(`kind='backup' AND ok`); err != nil {
		return nil, fmt.Errorf("run history of %s: %w", account, err)
	}
	if h.LastBackup, err = q(`kind='backup'`); err != nil {
		return nil, fmt.Errorf("run history of %s: %w", account, err)
	}
	if h.LastFailure, err = q(`NOT ok`); err != nil {
		return nil, fmt.Errorf("run history of %s: %w", account, err)
	}
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE account=? AND kind='backup' AND NOT ok
		AND id > coalesce((SELECT max(id) FROM runs WHERE account=? AND kind='backup' AND ok), 0)`, account, account).Scan(&h.Failures)
	if err != nil {
		return nil, fmt.Errorf("run history of %s: %w", account, err)
	}
	return h, nil
}

// jobFailures counts the account's failed runs of job since its last
// good one, and returns when the newest of them started.
func jobFailures(ctx context.Context, db *sql.DB, account, job string) (n int, lastStart time.Time, err error) {
	var s sql.NullInt64
	err = db.QueryRowContext(ctx, `SELECT count(*), max(started) FROM runs WHERE account=? AND job=? AND NOT ok
		AND id > coalesce((SELECT max(id) FROM runs WHERE account=? AND job=? AND ok), 0)`, account, job, account, job).Scan(&n, &s)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("run history of %s: %w", account, err)
	}
	return n, unixTime(s.Int64), nil
}

// downloadKinds are the run kinds whose bytes were fetched from the
// account's server, and so count against its max_bytes_per_day.
var downloadKinds = `('backup','migrate','cleanup')`

// bytesSince sums the bytes the account's runs that finished at or after
// since fetched from its server. A run still going, or killed before it
// recorded itself, is not counted.
func bytesSince(ctx context.Context, db *sql.DB, account string, since time.Time) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT coalesce(sum(bytes),0) FROM runs WHERE account=? AND kind IN `+downloadKinds+` AND finished >= ?`,
		account, since.Unix()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("run history of %s: %w", account, err)
	}
	return n, nil
}

// runGroup is the history of one account in one job and kind.
type runGroup struct {
	Account, Job, Kind string
	Runs, OK           int64
	Messages, Bytes    int64
	Errors             int64
	LastSuccess        time.Time // zero: never
	Last               archive.Run
	Failures           int64 // failed runs since the last good one
}

func runGroups(ctx context.Context, db *sql.DB) ([]runGroup, error) {
	rows, err := db.QueryContext(ctx, `
WITH g AS (
	SELECT account, job, kind, count(*) AS n, sum(ok) AS nok, sum(messages) AS m, sum(bytes) AS b, sum(errors) AS e,
		max(CASE WHEN ok THEN finished ELSE 0 END) AS lastok, max(CASE WHEN ok THEN id ELSE 0 END) AS okid, max(id) AS lastid
	FROM runs GROUP BY account, job, kind)
SELECT g.account, g.job, g.kind, g.n, g.nok, g.m, g.b, g.e, g.lastok,
	r.started, r.finished, r.ok, r.messages, r.bytes, r.errors, r.error,
	(SELECT count(*) FROM runs f WHERE f.account=g.account AND f.job=g.job AND f.kind=g.kind AND NOT f.ok AND f.id > g.okid)
FROM g JOIN runs r ON r.id = g.lastid
ORDER BY g.account, g.job, g.kind`)
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	defer rows.Close()
	var out []runGroup
	for rows.Next() {
		var g runGroup
		var lastOK, s, f int64
		if err := rows.Scan(&g.Account, &g.Job, &g.Kind, &g.Runs, &g.OK, &g.Messages, &g.Bytes, &g.Errors, &lastOK,
			&s, &f, &g.Last.OK, &g.Last.Messages, &g.Last.Bytes, &g.Last.Errors, &g.Last.Error, &g.Failures); err != nil {
			return nil, fmt.Errorf("run history: %w", err)
		}
		g.LastSuccess = unixTime(lastOK)
		g.Last.Account, g.Last.Job, g.Last.Kind = g.Account, g.Job, g.Kind
		g.Last.Started, g.Last.Finished = unixTime(s), unixTime(f)
		out = append(out, g)
	}
	return out, rows.Err()
}
