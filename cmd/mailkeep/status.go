package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/metrics"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
	"github.com/mailkeep/mailkeep/internal/schedule"
)

func init() { subcommands = append(subcommands, newStatusCmd) }

func newStatusCmd(g *globals) *cobra.Command {
	var maxAge, metricsFile string
	cmd := &cobra.Command{
		Use:   "status [ACCOUNT...]",
		Short: "Show the last good backup of each account, its age, and the last failure",
		Long: `Shows, for each account, its last successful backup and how long ago it
was, the last failure and why (from the run history in the archive), how
many backups in a row have failed and whether the job runner is backing
off, and the bytes downloaded in the last 24 hours against
max_bytes_per_day.

Without ACCOUNT: the accounts that a backup job names or that have been
backed up before (all accounts if that is none).

Exit status: 1 when an account has never been backed up successfully or,
with --max-age, when its last good backup is older than that (for
monitoring: 'mailkeep status --max-age 36h || alert'); 0 otherwise.
--metrics-file also writes the history in Prometheus' text format for
node_exporter's textfile collector, atomically.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var age time.Duration
			if maxAge != "" {
				d, err := parseMaxAge(maxAge)
				if err != nil {
					return usageErr("--max-age %q: %v", maxAge, err)
				}
				age = d
			}
			return g.status(cmd.Context(), args, age, metricsFile, time.Now())
		},
	}
	cmd.Flags().StringVar(&maxAge, "max-age", "", "exit 1 when an account's last good backup is older than this (36h, 2d)")
	cmd.Flags().StringVar(&metricsFile, "metrics-file", "", "also write Prometheus metrics to this file")
	return cmd
}

// parseMaxAge reads a Go duration, or a whole number of days ("2d").
func parseMaxAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, errors.New("want a duration like 36h or 2d")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("want a duration like 36h or 2d")
	}
	return d, nil
}

// accountStatus is one account's line of 'mailkeep status'.
type accountStatus struct {
	Account       string           `json:"account"`
	State         string           `json:"state"` // ok, failing, stale, never
	LastSuccess   *time.Time       `json:"last_success,omitempty"`
	AgeSeconds    *float64         `json:"age_seconds,omitempty"`
	LastMessages  int64            `json:"last_messages,omitempty"`
	LastBytes     int64            `json:"last_bytes,omitempty"`
	LastFailure   *time.Time       `json:"last_failure,omitempty"`
	FailureKind   string           `json:"last_failure_kind,omitempty"`
	FailureJob    string           `json:"last_failure_job,omitempty"`
	FailureError  string           `json:"last_failure_error,omitempty"`
	Failures      int              `json:"consecutive_failures"`
	BackoffUntil  *time.Time       `json:"backoff_until,omitempty"`
	BackoffJob    string           `json:"backoff_job,omitempty"`
	Bytes24h      int64            `json:"bytes_24h"`
	MaxBytesDay   int64            `json:"max_bytes_per_day,omitempty"`
	BudgetSpent   bool             `json:"budget_spent,omitempty"`
	MaxAgeSeconds float64          `json:"max_age_seconds,omitempty"`
	Interrupted   *time.Time       `json:"last_interrupted,omitempty"` // the newest backup was stopped by a signal
	Archive       *holdings        `json:"archive,omitempty"`          // what the archive holds now
	Counts        map[string]int64 `json:"counts,omitempty"`           // the JSON envelope's counts
}

// statusAccounts is the default selection of 'status' and the metrics.
func statusAccounts(ctx context.Context, cfg *config.Config, db *archive.Repo) []string {
	want := map[string]bool{}
	for _, j := range cfg.Jobs {
		for _, a := range j.Backup {
			want[a] = true
		}
	}
	if db != nil {
		accts, _ := db.RunAccounts(ctx, "backup")
		for _, a := range accts {
			want[a] = true
		}
	}
	var out []string
	for _, a := range cfg.AccountNames() {
		if want[a] {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		for _, a := range cfg.AccountNames() {
			if !cfg.Accounts[a].SkipBackup {
				out = append(out, a)
			}
		}
	}
	return out
}

func (g *globals) status(ctx context.Context, names []string, maxAge time.Duration, metricsFile string, now time.Time) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	if _, err := pickAccounts(cfg, names); err != nil {
		return err
	}
	var db *archive.Repo
	repo, err := archive.Open(ctx, cfg.Archive, nil)
	switch {
	case err == nil:
		defer repo.Close()
		db = repo
	case errors.Is(err, os.ErrNotExist):
		// No archive yet: every account has "never" been backed up.
	default:
		return &exitError{code: exitFailed, err: err}
	}
	accts := names
	if len(accts) == 0 {
		accts = statusAccounts(ctx, cfg, db)
	}
	var list []*accountStatus
	for _, a := range accts {
		st, err := accountStatusOf(ctx, cfg, db, a, maxAge, now)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		list = append(list, st)
	}
	holder := archive.LockHolder(cfg.Archive)
	if g.json {
		if holder != "" {
			writeJSON(g.stdout, map[string]any{"event": "archive", "archive": cfg.Archive, "locked_by": holder})
		}
		for _, st := range list {
			st.Counts = map[string]int64{"consecutive_failures": int64(st.Failures), "bytes_24h": st.Bytes24h}
			if h := st.Archive; h != nil {
				st.Counts["messages"], st.Counts["bytes"] = h.Messages, h.Bytes
				st.Counts["on_server"], st.Counts["off_server"], st.Counts["gone"] = h.OnServer, h.OffServer, h.Gone
			}
			writeJSON(g.stdout, struct {
				Event string `json:"event"`
				*accountStatus
			}{"status", st})
		}
	} else {
		if db == nil {
			fmt.Fprintf(g.stdout, "archive %s: none yet\n", cfg.Archive)
		}
		if holder != "" {
			fmt.Fprintf(g.stdout, "archive %s: being written now by %s\n", cfg.Archive, holder)
		}
		for _, st := range list {
			fmt.Fprintln(g.stdout, safeLine(st.line(now)))
		}
	}
	if metricsFile != "" {
		if err := writeMetricsFile(ctx, cfg, names, metricsFile, now, nil); err != nil {
			return &exitError{code: exitFailed, err: err}
		}
	}
	var bad []string
	for _, st := range list {
		if st.State == "never" || st.State == "stale" {
			bad = append(bad, st.Account)
		}
	}
	if len(bad) > 0 {
		ee := &exitError{code: exitFailed, err: fmt.Errorf("no recent good backup of %s", strings.Join(bad, ", "))}
		if db == nil {
			ee.hint = "run 'mailkeep backup' (or 'mailkeep run') first"
		}
		return ee
	}
	return nil
}

func accountStatusOf(ctx context.Context, cfg *config.Config, db *archive.Repo, account string, maxAge time.Duration, now time.Time) (*accountStatus, error) {
	st := &accountStatus{Account: account, State: "never"}
	if maxAge > 0 {
		st.MaxAgeSeconds = maxAge.Seconds()
	}
	if acct := cfg.Accounts[account]; acct != nil {
		st.MaxBytesDay = acct.MaxBytesPerDay
	}
	if db == nil {
		return st, nil
	}
	h, err := healthOf(ctx, db, account)
	if err != nil {
		return nil, err
	}
	st.Failures = h.Failures
	st.Interrupted = interruptedAfter(h)
	if st.Archive, err = holdingsOf(ctx, db, account); err != nil {
		return nil, err
	}
	if s := h.LastSuccess; s != nil {
		t := s.Finished
		age := now.Sub(t).Seconds()
		st.LastSuccess, st.AgeSeconds = &t, &age
		st.LastMessages, st.LastBytes = s.Messages, s.Bytes
		st.State = "ok"
		if h.Failures > 0 {
			st.State = "failing"
		}
		if maxAge > 0 && now.Sub(t) > maxAge {
			st.State = "stale"
		}
	}
	if f := h.LastFailure; f != nil {
		t := f.Finished
		st.LastFailure, st.FailureKind, st.FailureJob, st.FailureError = &t, f.Kind, f.Job, f.Error
	}
	// The job runner's back-off, per scheduled job that backs it up.
	for _, name := range cfg.JobNames() {
		j := cfg.Jobs[name]
		if j.Cron == nil || !slices.Contains(j.Accounts(), account) {
			continue
		}
		n, last, err := jobFailures(ctx, db, account, name)
		if err != nil {
			return nil, err
		}
		if nb := schedule.Backoff(j.Cron, j.Jitter, n, last); now.Before(nb) && (st.BackoffUntil == nil || nb.After(*st.BackoffUntil)) {
			st.BackoffUntil, st.BackoffJob = &nb, name
		}
	}
	if st.Bytes24h, err = bytesSince(ctx, db, account, now.Add(-24*time.Hour)); err != nil {
		return nil, err
	}
	st.BudgetSpent = ratelimit.NewBudget(st.MaxBytesDay, st.Bytes24h).Spent()
	return st, nil
}

func (st *accountStatus) line(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %-8s", st.Account, strings.ToUpper(st.State))
	if st.Archive != nil {
		fmt.Fprintf(&b, " %s;", st.Archive)
	}
	if st.LastSuccess != nil {
		fmt.Fprintf(&b, " last good backup %s (%s ago", st.LastSuccess.Local().Format("2006-01-02 15:04 MST"), roughAge(now.Sub(*st.LastSuccess)))
		if st.MaxAgeSeconds > 0 && st.State == "stale" {
			fmt.Fprintf(&b, ", more than %s", roughAge(time.Duration(st.MaxAgeSeconds*float64(time.Second))))
		}
		fmt.Fprintf(&b, "), %d messages, %s", st.LastMessages, humanBytes(st.LastBytes))
	} else {
		b.WriteString(" never backed up successfully")
	}
	if st.LastFailure != nil {
		fmt.Fprintf(&b, "; last failure %s (%s ago, %s", st.LastFailure.Local().Format("2006-01-02 15:04 MST"), roughAge(now.Sub(*st.LastFailure)), st.FailureKind)
		if st.FailureJob != "" {
			fmt.Fprintf(&b, " job %s", st.FailureJob)
		}
		fmt.Fprintf(&b, "): %s", orDash(st.FailureError))
	}
	if st.Interrupted != nil {
		fmt.Fprintf(&b, "; last backup interrupted %s (%s ago; not a failure, the next run resumes)", st.Interrupted.Local().Format("2006-01-02 15:04 MST"), roughAge(now.Sub(*st.Interrupted)))
	}
	if st.Failures > 0 {
		fmt.Fprintf(&b, "; %d failed backups in a row", st.Failures)
	}
	if st.BackoffUntil != nil {
		fmt.Fprintf(&b, "; job %s backs off until %s", st.BackoffJob, st.BackoffUntil.Local().Format("2006-01-02 15:04 MST"))
	}
	if st.MaxBytesDay > 0 {
		fmt.Fprintf(&b, "; %s of %s/day used", humanBytes(st.Bytes24h), humanBytes(st.MaxBytesDay))
		if st.BudgetSpent {
			b.WriteString(" (spent: resumes when older runs leave the 24-hour window)")
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// roughAge prints a duration the way people say it: 45s, 12m, 5h3m, 3d4h.
func roughAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// writeMetricsFile writes the run history (and the runner's job states,
// when there are any) to path atomically.
func writeMetricsFile(ctx context.Context, cfg *config.Config, names []string, path string, now time.Time, jobs map[string]jobState) error {
	var db *archive.Repo
	repo, err := archive.Open(ctx, cfg.Archive, nil)
	switch {
	case err == nil:
		defer repo.Close()
		db = repo
	case errors.Is(err, os.ErrNotExist):
	default:
		return err
	}
	set, err := buildMetrics(ctx, cfg, db, names, now, jobs)
	if err != nil {
		return err
	}
	return metrics.WriteFile(path, set)
}

// buildMetrics turns the run history into metrics. Every family is about
// the accounts of the config; the per-account ones cover the status
// selection (names, or the default) so an account never backed up shows
// a last success of 0 and alerts fire.
func buildMetrics(ctx context.Context, cfg *config.Config, db *archive.Repo, names []string, now time.Time, jobs map[string]jobState) (*metrics.Set, error) {
	var s metrics.Set
	accts := names
	if len(accts) == 0 {
		accts = statusAccounts(ctx, cfg, db)
	}
	for _, a := range accts {
		st, err := accountStatusOf(ctx, cfg, db, a, 0, now)
		if err != nil {
			return nil, err
		}
		var last float64
		if st.LastSuccess != nil {
			last = float64(st.LastSuccess.Unix())
		}
		s.Gauge("mailkeep_backup_last_success_timestamp_seconds", "Unix time of the account's last successful backup, any job; 0: never.", last, "account", a)
		s.Gauge("mailkeep_backup_consecutive_failures", "Failed backups of the account since its last good one.", float64(st.Failures), "account", a)
		if h := st.Archive; h != nil {
			s.Gauge("mailkeep_archive_messages", "Messages the archive holds of the account (on the server or taken off it by mailkeep).", float64(h.Messages), "account", a)
			s.Gauge("mailkeep_archive_bytes", "Raw bytes of the messages the archive holds of the account.", float64(h.Bytes), "account", a)
		}
		if st.MaxBytesDay > 0 {
			s.Gauge("mailkeep_download_bytes_24h", "Bytes downloaded from the account's server in the last 24 hours.", float64(st.Bytes24h), "account", a)
			s.Gauge("mailkeep_download_budget_bytes", "The account's max_bytes_per_day.", float64(st.MaxBytesDay), "account", a)
		}
	}
	if db != nil {
		groups, err := runGroups(ctx, db)
		if err != nil {
			return nil, err
		}
		type fam struct {
			name, help, typ string
			val             func(g *runGroup) float64
		}
		b2f := func(b bool) float64 {
			if b {
				return 1
			}
			return 0
		}
		fams := []fam{
			{"mailkeep_last_run_timestamp_seconds", "Unix time the newest run ended.", metrics.Gauge, func(g *runGroup) float64 { return float64(g.Last.Finished.Unix()) }},
			{"mailkeep_last_success_timestamp_seconds", "Unix time the newest successful run ended; 0: never.", metrics.Gauge, func(g *runGroup) float64 {
				if g.LastSuccess.IsZero() {
					return 0
				}
				return float64(g.LastSuccess.Unix())
			}},
			{"mailkeep_last_run_success", "1 if the newest run succeeded.", metrics.Gauge, func(g *runGroup) float64 { return b2f(g.Last.OK) }},
			{"mailkeep_last_run_duration_seconds", "How long the newest run took.", metrics.Gauge, func(g *runGroup) float64 { return g.Last.Finished.Sub(g.Last.Started).Seconds() }},
			{"mailkeep_last_run_messages", "Messages handled by the newest run.", metrics.Gauge, func(g *runGroup) float64 { return float64(g.Last.Messages) }},
			{"mailkeep_last_run_bytes", "Bytes handled by the newest run.", metrics.Gauge, func(g *runGroup) float64 { return float64(g.Last.Bytes) }},
			{"mailkeep_last_run_errors", "Errors in the newest run.", metrics.Gauge, func(g *runGroup) float64 { return float64(g.Last.Errors) }},
			{"mailkeep_consecutive_failures", "Failed runs since the last good one.", metrics.Gauge, func(g *runGroup) float64 { return float64(g.Failures) }},
			{"mailkeep_messages_total", "Messages handled, all runs.", metrics.Counter, func(g *runGroup) float64 { return float64(g.Messages) }},
			{"mailkeep_bytes_total", "Bytes handled, all runs.", metrics.Counter, func(g *runGroup) float64 { return float64(g.Bytes) }},
			{"mailkeep_errors_total", "Errors, all runs.", metrics.Counter, func(g *runGroup) float64 { return float64(g.Errors) }},
		}
		var mine []*runGroup
		for i := range groups {
			if _, ok := cfg.Accounts[groups[i].Account]; ok {
				mine = append(mine, &groups[i])
			}
		}
		for _, f := range fams {
			for _, g := range mine {
				lbl := []string{"account", g.Account, "job", g.Job, "kind", g.Kind}
				if f.typ == metrics.Counter {
					s.Counter(f.name, f.help, f.val(g), lbl...)
				} else {
					s.Gauge(f.name, f.help, f.val(g), lbl...)
				}
			}
		}
		for _, g := range mine {
			s.Counter("mailkeep_runs_total", "Runs, by result.", float64(g.OK), "account", g.Account, "job", g.Job, "kind", g.Kind, "result", "ok")
			s.Counter("mailkeep_runs_total", "", float64(g.Runs-g.OK), "account", g.Account, "job", g.Job, "kind", g.Kind, "result", "failed")
		}
	}
	var jobNames []string
	for n := range jobs {
		jobNames = append(jobNames, n)
	}
	slices.Sort(jobNames)
	for _, n := range jobNames {
		st := jobs[n]
		if st.last != nil {
			s.Gauge("mailkeep_job_last_exit_code", "Exit code of the job's newest run in this process (0 ok, 1 failed, 2 config, 3 partial, 130 interrupted).", float64(st.last.Code), "job", n)
			s.Gauge("mailkeep_job_last_run_timestamp_seconds", "Unix time the job's newest run in this process ended.", float64(st.last.Finished.Unix()), "job", n)
		}
		for _, reason := range []string{"overlap", "locked", "backoff", "budget"} {
			s.Counter("mailkeep_job_skipped_total", "Runs (overlap, locked) or accounts (backoff, budget) skipped by this process.", float64(st.skipped[reason]), "job", n, "reason", reason)
		}
	}
	s.Gauge("mailkeep_metrics_timestamp_seconds", "Unix time this file was written.", float64(now.Unix()))
	return &s, nil
}
