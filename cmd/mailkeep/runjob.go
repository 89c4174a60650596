package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
	"github.com/mailkeep/mailkeep/internal/schedule"
	"github.com/mailkeep/mailkeep/internal/shard"
)

// lockPoll is how often a job waiting for another process's lock on the
// archive tries again.
var lockPoll = 2 * time.Second

// severity orders exit codes for "the worst one wins": ok < partly done
// < failed < usage or config error < interrupted. A config error is
// worse than a failure because nothing will work until a person fixes
// it; an interrupted run says nothing about the jobs it did not finish.
func severity(code int) int {
	switch code {
	case exitOK:
		return 0
	case exitPartial:
		return 1
	case exitFailed:
		return 2
	case exitUsage:
		return 3
	case exitInterrupted:
		return 4
	}
	return 2
}

func worst(a, b int) int {
	if severity(b) > severity(a) {
		return b
	}
	return a
}

// writerKinds write the archive, and so take this process's turn at it
// one at a time (the archive has one writer; see archive.Open).
func writesArchive(kind string) bool { return kind != "export" }

// runner runs jobs: once ('mailkeep run') or on their schedules
// (--daemon).
type runner struct {
	g           *globals
	log         *slog.Logger
	shard       shard.Shard
	lockWait    time.Duration
	metricsFile string
	now         func() time.Time

	archiveMu sync.Mutex // one archive-writing job at a time in this process

	mu    sync.Mutex
	cfg   *config.Config
	state map[string]*jobState // by job name, for the metrics
}

// jobState is what the runner remembers of a job between runs.
type jobState struct {
	last    *jobResult
	skipped map[string]int // by reason: overlap, locked, backoff, budget
}

func (r *runner) config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

func (r *runner) setConfig(c *config.Config) {
	r.mu.Lock()
	r.cfg = c
	r.mu.Unlock()
}

func (r *runner) countSkip(job, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stateLocked(job)
	st.skipped[reason]++
}

func (r *runner) stateLocked(job string) *jobState {
	if r.state == nil {
		r.state = map[string]*jobState{}
	}
	st := r.state[job]
	if st == nil {
		st = &jobState{skipped: map[string]int{}}
		r.state[job] = st
	}
	return st
}

// shardKey is the account that decides a job's shard: a backup job is
// split account by account, the other kinds go whole with their (source)
// account.
func shardKey(j *config.Job) string {
	switch {
	case j.Migrate != nil:
		return j.Migrate.From
	case j.Cleanup != nil:
		return j.Cleanup.Account
	case j.Export != nil:
		return j.Export.Account
	}
	return ""
}

// runJob runs one job to the end and returns what happened. scheduled
// runs (the daemon's) also honour the back-off of failing accounts.
func (r *runner) runJob(ctx context.Context, cfg *config.Config, job *config.Job, scheduled bool) *jobResult {
	res := &jobResult{Job: job.Name, Kind: job.Kind(), Started: r.now(), Shard: r.shard.String()}
	defer func() {
		res.Finished = r.now()
		res.Status = statusOf(res.Code)
		if res.Command == nil && res.Code == exitOK {
			res.Status = "skipped"
		}
		r.mu.Lock()
		r.stateLocked(job.Name).last = res
		r.mu.Unlock()
	}()
	log := r.log.With("job", job.Name)

	accts := r.pickAccounts(ctx, cfg, job, scheduled, res, log)
	if len(accts) == 0 {
		if res.Elsewhere > 0 && len(res.Skipped) == 0 {
			log.Info("job skipped: none of its accounts is in this shard", "shard", res.Shard)
		} else {
			log.Warn("job skipped: no account left to run", "skipped", len(res.Skipped))
		}
		return res
	}
	// The command line that does the same by hand, for on_failure's
	// summary; the job itself calls the operation directly.
	res.Command = jobArgs(cfg.Path, job, accts)

	if writesArchive(job.Kind()) {
		if !r.archiveMu.TryLock() {
			log.Info("waiting for this daemon's other job to finish with the archive")
			r.archiveMu.Lock()
		}
		defer r.archiveMu.Unlock()
	}
	log.Info("job running", "kind", job.Kind(), "accounts", strings.Join(accts, ","))

	deadline := time.Now().Add(r.lockWait)
	waiting := false
	for {
		o := r.execute(ctx, cfg, job, accts, log)
		res.Code, res.Hint, res.Error, res.Accounts = o.ExitCode(), o.Hint, "", summaries(o)
		if o.Err != nil {
			res.Error = oneLine(o.Err.Error())
		}
		var le *archive.LockedError
		if errors.As(o.Err, &le) {
			left := time.Until(deadline)
			if left > 0 && ctx.Err() == nil {
				if !waiting {
					log.Warn("archive locked by another process; waiting for it", "holder", le.Holder, "up_to", r.lockWait.String())
					waiting = true
				}
				t := time.NewTimer(min(lockPoll, left))
				select {
				case <-ctx.Done():
					t.Stop()
				case <-t.C:
				}
				continue
			}
			r.countSkip(job.Name, "locked")
			res.Error = "skipped: " + res.Error
			res.Hint = "another mailkeep is writing this archive; this job runs again at its next time (--lock-wait makes it wait)"
			log.Warn("job skipped: the archive is locked by another process", "holder", le.Holder)
		}
		for _, a := range res.Accounts {
			log.Info("account summary", a.attrs()...)
		}
		break
	}
	lvl := slog.LevelInfo
	switch res.Code {
	case exitOK:
	case exitInterrupted:
		lvl = slog.LevelWarn // not a failure
	default:
		lvl = slog.LevelError
	}
	attrs := []any{"status", statusOf(res.Code), "exit_code", res.Code}
	if res.Error != "" {
		attrs = append(attrs, "error", res.Error)
	}
	log.Log(ctx, lvl, "job done", attrs...)
	return res
}

// pickAccounts applies the shard, and for scheduled runs the back-off
// and daily budgets, to the job's accounts; it returns those left.
func (r *runner) pickAccounts(ctx context.Context, cfg *config.Config, job *config.Job, scheduled bool, res *jobResult, log *slog.Logger) []string {
	var accts []string
	if job.Backup != nil {
		accts = append(accts, job.Backup...)
		if r.shard.Count > 1 {
			mine := r.shard.Filter(accts)
			res.Elsewhere = len(accts) - len(mine)
			accts = mine
		}
	} else {
		if !r.shard.Has(shardKey(job)) {
			res.Elsewhere = 1
			return nil
		}
		accts = job.Accounts()
	}
	if len(accts) == 0 {
		return nil
	}
	needHistory := scheduled && job.Cron != nil
	for _, a := range accts {
		if acct := cfg.Accounts[a]; acct != nil && acct.MaxBytesPerDay > 0 {
			needHistory = true
		}
	}
	if !needHistory {
		return accts
	}
	db, closeDB := r.history(ctx, cfg)
	defer closeDB()
	if db == nil {
		return accts
	}
	now := r.now()
	var keep []string
	skip := func(a, why, reason string) {
		res.Skipped = append(res.Skipped, skippedAccount{Account: a, Reason: why})
		r.countSkip(job.Name, reason)
		log.Warn("account skipped", "account", a, "why", why)
	}
	for _, a := range accts {
		if scheduled && job.Cron != nil {
			n, last, err := jobFailures(ctx, db, a, job.Name)
			if err != nil {
				log.Warn("cannot read the run history; no back-off", "account", a, "error", err)
			} else if nb := schedule.Backoff(job.Cron, job.Jitter, n, last); !nb.IsZero() && now.Before(nb) {
				skip(a, fmt.Sprintf("failed %d runs in a row; backing off until %s", n, nb.Format(time.RFC3339)), "backoff")
				continue
			}
		}
		if acct := cfg.Accounts[a]; acct != nil && acct.MaxBytesPerDay > 0 && job.Export == nil && !(job.Migrate != nil && a == job.Migrate.To) {
			used, err := bytesSince(ctx, db, a, now.Add(-24*time.Hour))
			if err != nil {
				log.Warn("cannot read the run history; daily budget not checked", "account", a, "error", err)
			} else if b := ratelimit.NewBudget(acct.MaxBytesPerDay, used); b.Spent() {
				skip(a, b.Err().Error(), "budget")
				continue
			}
		}
		keep = append(keep, a)
	}
	if job.Backup == nil && len(keep) < len(accts) {
		return nil // a migrate or cleanup goes whole or not at all
	}
	return keep
}

// history opens the archive read-only for the run history; nil when
// there is no archive yet.
func (r *runner) history(ctx context.Context, cfg *config.Config) (*archive.Repo, func()) {
	repo, err := archive.Open(ctx, cfg.Archive, nil)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("cannot read the archive's run history", "archive", cfg.Archive, "error", err)
		}
		return nil, func() {}
	}
	return repo, func() { repo.Close() }
}
