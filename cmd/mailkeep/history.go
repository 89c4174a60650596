package main

import (
	"context"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// The run history is the archive's (archive/history.go); these helpers
// give status, the metrics and the job runner's back-off and daily
// budgets the local times they print.

type accountHealth = archive.Health

type runGroup = archive.RunGroup

func localRun(r *archive.Run) *archive.Run {
	if r != nil {
		r.Started, r.Finished = localTime(r.Started), localTime(r.Finished)
	}
	return r
}

func localTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Local()
}

func healthOf(ctx context.Context, repo *archive.Repo, account string) (*accountHealth, error) {
	h, err := repo.Health(ctx, account)
	if err != nil {
		return nil, err
	}
	localRun(h.LastSuccess)
	localRun(h.LastBackup)
	localRun(h.LastFailure)
	return h, nil
}

// jobFailures counts the account's failed runs of job since its last
// good one, and returns when the newest of them started.
func jobFailures(ctx context.Context, repo *archive.Repo, account, job string) (int, time.Time, error) {
	n, last, err := repo.JobFailures(ctx, account, job)
	return n, localTime(last), err
}

// bytesSince sums what the account's runs that finished at or after since
// fetched from its server.
func bytesSince(ctx context.Context, repo *archive.Repo, account string, since time.Time) (int64, error) {
	return repo.BytesSince(ctx, account, since)
}

func runGroups(ctx context.Context, repo *archive.Repo) ([]runGroup, error) {
	groups, err := repo.RunGroups(ctx)
	for i := range groups {
		g := &groups[i]
		g.LastSuccess = localTime(g.LastSuccess)
		localRun(&g.Last)
	}
	return groups, err
}
