package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
	"github.com/mailkeep/mailkeep/internal/schedule"
	"github.com/mailkeep/mailkeep/internal/shard"
)

// jobResult is one run of one job.
type jobResult struct {
	Job       string           `json:"job"`
	Kind      string           `json:"kind"`
	Status    string           `json:"status"` // ok, partial, failed, config, interrupted, skipped
	Code      int              `json:"exit_code"`
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Command   []string         `json:"command,omitempty"` // mailkeep's arguments (never secrets: names and options only)
	Error     string           `json:"error,omitempty"`
	Hint      string           `json:"hint,omitempty"`
	Accounts  []map[string]any `json:"accounts,omitempty"` // the command's per-account summaries
	Skipped   []skippedAccount `json:"skipped,omitempty"`
	Shard     string           `json:"shard,omitempty"`
	Elsewhere int              `json:"other_shards,omitempty"` // accounts of the job left to other shards
}

type skippedAccount struct {
	Account string `json:"account"`
	Reason  string `json:"reason"`
}

func statusOf(code int) string {
	switch code {
	case exitOK:
		return "ok"
	case exitPartial:
		return "partial"
	case exitUsage:
		return "config"
	case exitInterrupted:
		return "interrupted"
	}
	return "failed"
}

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
		code, err, hint, summaries := r.execute(ctx, cfg, job.Kind(), res.Command, log)
		res.Code, res.Accounts, res.Hint = code, summaries, hint
		res.Error = ""
		if err != nil {
			res.Error = oneLine(err.Error())
		}
		var le *archive.LockedError
		if errors.As(err, &le) {
			left := time.Until(deadline)
			if left > 0 && ctx.Err() == nil {
				if !waiting {
					log.Warn("archive locked by another process; waiting for it", "holder", le.Holder, "up_to", r.lockWait.String())
					waiting = true
				}
				t := time.NewTimer(min(2*time.Second, left))
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
		break
	}
	lvl := slog.LevelInfo
	if res.Code != exitOK {
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

// jobArgs is the mailkeep command line that does a job's work, for the
// given accounts (a backup job's, after sharding and back-off).
func jobArgs(configPath string, j *config.Job, accts []string) []string {
	args := []string{"--config", configPath, "--job", j.Name}
	folders := func(f config.FolderFilter) {
		for _, p := range f.Include {
			args = append(args, "--folder", p)
		}
		for _, p := range f.Exclude {
			args = append(args, "--exclude", p)
		}
	}
	switch {
	case j.Backup != nil:
		args = append(args, "backup")
		args = append(args, accts...)
	case j.Migrate != nil:
		args = append(args, "migrate", j.Migrate.From, j.Migrate.To)
		folders(j.Migrate.Folders)
	case j.Cleanup != nil:
		c := j.Cleanup
		args = append(args, "cleanup", c.Account)
		if !c.OlderThan.IsZero() {
			args = append(args, "--older-than", c.OlderThan.String())
		}
		if !c.Before.IsZero() {
			args = append(args, "--before", c.Before.Format(time.RFC3339))
		}
		if c.LargerThan > 0 {
			args = append(args, "--larger-than", strconv.FormatInt(c.LargerThan, 10))
		}
		folders(c.Folders)
		if c.By != "" {
			args = append(args, "--by", c.By)
		}
	case j.Export != nil:
		e := j.Export
		// --force: a job exports into the same directory every time, and
		// brings the earlier export up to date.
		args = append(args, "export", e.Account, "--format", e.Format, "--out", e.Out, "--force")
		folders(e.Folders)
		if e.IncludeDeleted {
			args = append(args, "--include-deleted")
		}
	}
	return args
}

// preloaded hands a command run for a job the config the runner holds
// (see loadConfig), so a config file broken after a SIGHUP does not
// break the jobs that keep running on the previous one.
var preloaded sync.Map // *globals -> *config.Config

func preloadedConfig(g *globals) *config.Config {
	if c, ok := preloaded.Load(g); ok {
		return c.(*config.Config)
	}
	return nil
}

// execute runs mailkeep's own command line in this process, turning its
// JSON output into log records, and returns its exit code, error, hint
// and per-account summaries.
func (r *runner) execute(ctx context.Context, cfg *config.Config, kind string, args []string, log *slog.Logger) (code int, err error, hint string, summaries []map[string]any) {
	out := &lineWriter{fn: func(line string) {
		if ev := logEvent(ctx, log, line); ev != nil && ev["event"] == "summary" {
			delete(ev, "event")
			summaries = append(summaries, ev)
		}
	}}
	errw := &lineWriter{fn: func(line string) { logStderr(ctx, log, line) }}
	g2 := &globals{stdout: out, stderr: errw}
	preloaded.Store(g2, cfg)
	defer preloaded.Delete(g2)
	// Output options go on the command line: cobra sets each flag's
	// variable to its default when the flag is defined.
	full := []string{"--json", "--log-format", "json"}
	if r.g.quiet {
		full = append(full, "--quiet")
	}
	for range r.g.verbose {
		full = append(full, "--verbose")
	}
	full = append(full, args...)
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = &exitError{code: exitFailed, err: fmt.Errorf("internal error in %s: %v", kind, p)}
			}
		}()
		root := newRoot(g2)
		root.SetArgs(full)
		root.SetOut(out)
		root.SetErr(errw)
		err = root.ExecuteContext(ctx)
	}()
	out.Flush()
	errw.Flush()
	if err == nil {
		return exitOK, nil, "", summaries
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// cobra's own: an unknown command or flag. A command this build
		// does not have yet says so here.
		ee = &exitError{code: exitUsage, err: err, hint: "run 'mailkeep " + kind + " --help': this build's " + kind + " command does not take this job's options"}
	}
	code = ee.code
	if ctx.Err() != nil && code != exitUsage {
		code = exitInterrupted
	}
	if ee.err == nil {
		return code, nil, ee.hint, summaries
	}
	return code, ee.err, ee.hint, summaries
}

// logEvent logs one line of a command's JSON output and returns it
// decoded (nil when it is not JSON).
func logEvent(ctx context.Context, log *slog.Logger, line string) map[string]any {
	var ev map[string]any
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber() // byte counts stay whole numbers in logs and summaries
	if dec.Decode(&ev) != nil {
		if strings.TrimSpace(line) != "" {
			log.Info(line)
		}
		return nil
	}
	kind, _ := ev["event"].(string)
	lvl, msg := slog.LevelInfo, kind
	if m, ok := eventMessages[kind]; ok {
		msg = m
	}
	switch kind {
	case "failed":
		lvl = slog.LevelError
	case "warning", "retry":
		lvl = slog.LevelWarn
	case "item", "info", "folder-start", "skipped":
		lvl = slog.LevelDebug
	case "account-done":
		if _, bad := ev["error"]; bad {
			lvl = slog.LevelWarn
		}
	}
	if !log.Enabled(ctx, lvl) {
		return ev
	}
	keys := make([]string, 0, len(ev))
	for k := range ev {
		if k != "event" && k != "time" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	// account and folder first: they are what an operator looks for.
	sort.SliceStable(keys, func(i, j int) bool { return rank(keys[i]) < rank(keys[j]) })
	attrs := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		attrs = append(attrs, k, ev[k])
	}
	log.Log(ctx, lvl, msg, attrs...)
	return ev
}

// eventMessages are the log messages of the commands' JSON events.
var eventMessages = map[string]string{
	"account-start": "account started",
	"account-done":  "account done",
	"folder-start":  "folder started",
	"folder-done":   "folder done",
	"summary":       "account summary",
	"retry":         "retrying",
}

func rank(k string) int {
	switch k {
	case "account":
		return 0
	case "folder":
		return 1
	}
	return 2
}

// logStderr logs a line a command wrote to its standard error: its own
// slog JSON records keep their level; "mailkeep: error/warning:" lines
// theirs; anything else (protocol traces with -vv) is debug.
func logStderr(ctx context.Context, log *slog.Logger, line string) {
	var rec map[string]any
	if json.Unmarshal([]byte(line), &rec) == nil {
		if msg, ok := rec["msg"].(string); ok {
			var lvl slog.Level
			if s, ok := rec["level"].(string); !ok || lvl.UnmarshalText([]byte(s)) != nil {
				lvl = slog.LevelInfo
			}
			var attrs []any
			for k, v := range rec {
				if k != "msg" && k != "level" && k != "time" {
					attrs = append(attrs, k, v)
				}
			}
			log.Log(ctx, lvl, msg, attrs...)
			return
		}
	}
	switch {
	case strings.HasPrefix(line, "mailkeep: error: "):
		log.Error(strings.TrimPrefix(line, "mailkeep: error: "))
	case strings.HasPrefix(line, "mailkeep: warning: "):
		log.Warn(strings.TrimPrefix(line, "mailkeep: warning: "))
	case strings.HasPrefix(line, "mailkeep: hint: "):
		log.Info(strings.TrimPrefix(line, "mailkeep: hint: "))
	case strings.TrimSpace(line) != "":
		log.Debug(line)
	}
}

// lineWriter calls fn for each complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(w.buf[:i], "\r"))
		w.buf = w.buf[i+1:]
		w.fn(line)
	}
	return len(p), nil
}

// Flush passes on a last line without its newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}

// summaryText is the run's summary for on_failure's standard input.
func (res *jobResult) summaryText(host string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mailkeep job %s (%s) on %s: %s, exit code %d\n", res.Job, res.Kind, host, res.Status, res.Code)
	fmt.Fprintf(&b, "started %s, took %s\n", res.Started.Format(time.RFC3339), res.Finished.Sub(res.Started).Round(time.Second))
	if len(res.Command) > 0 {
		fmt.Fprintf(&b, "command: mailkeep %s\n", strings.Join(res.Command, " "))
	}
	if res.Shard != "" {
		fmt.Fprintf(&b, "shard: %s\n", res.Shard)
	}
	if res.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", res.Error)
	}
	if res.Hint != "" {
		fmt.Fprintf(&b, "hint: %s\n", res.Hint)
	}
	for _, s := range res.Accounts {
		fmt.Fprintf(&b, "%s\n", accountLine(s))
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(&b, "%s: skipped: %s\n", s.Account, s.Reason)
	}
	return b.String()
}

// accountLine sums up one account summary of a command's JSON output.
func accountLine(s map[string]any) string {
	name, _ := s["account"].(string)
	state := "ok"
	if ok, _ := s["ok"].(bool); !ok {
		state = "FAILED"
		if e, _ := s["error"].(string); e != "" {
			state += ": " + e
		}
	}
	var parts []string
	for _, k := range []string{"new", "seen", "appended", "adopted", "deleted", "exported", "gone", "errors"} {
		if v := number(s[k]); v != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	if v := number(s["bytes"]); v != 0 {
		parts = append(parts, humanBytes(v))
	}
	if len(parts) == 0 {
		return name + ": " + state
	}
	return name + ": " + state + " (" + strings.Join(parts, ", ") + ")"
}

// number reads a whole number from decoded JSON (json.Number or float64).
func number(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i
		}
		f, _ := n.Float64()
		return int64(f)
	case float64:
		return int64(n)
	}
	return 0
}

// onFailure runs the job's on_failure command with the summary on its
// standard input. Its own failure is logged, never fatal.
func (r *runner) onFailure(ctx context.Context, cfg *config.Config, job *config.Job, res *jobResult) {
	if job.OnFailure == "" {
		return
	}
	host, _ := os.Hostname()
	var in []byte
	if r.g.json {
		in, _ = json.Marshal(res)
		in = append(in, '\n')
	} else {
		in = []byte(res.summaryText(host))
	}
	// Its own time limit, and it runs even while the daemon shuts down.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	c := exec.CommandContext(cctx, "sh", "-c", job.OnFailure)
	c.Dir = filepath.Dir(cfg.Path)
	c.Stdin = bytes.NewReader(in)
	c.Env = append(os.Environ(), "MAILKEEP_JOB="+job.Name, "MAILKEEP_KIND="+res.Kind,
		"MAILKEEP_STATUS="+res.Status, "MAILKEEP_EXIT_CODE="+strconv.Itoa(res.Code))
	var outb limitedBuffer
	c.Stdout, c.Stderr = &outb, &outb
	log := r.log.With("job", job.Name)
	// The command itself is not logged: it may hold a webhook's token.
	if err := c.Run(); err != nil {
		log.Error("on_failure command failed", "error", err, "output", strings.TrimSpace(outb.String()))
		return
	}
	log.Info("on_failure command ran", "output", strings.TrimSpace(outb.String()))
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ io.Writer = (*limitedBuffer)(nil)
