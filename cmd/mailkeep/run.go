package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/schedule"
	"github.com/mailkeep/mailkeep/internal/shard"
)

func init() { subcommands = append(subcommands, newRunCmd) }

type runOptions struct {
	daemon      bool
	shard       string
	lockWait    time.Duration
	metricsFile string
}

// stopTimeout is how long a stopping daemon waits for its running jobs
// before it exits anyway (the archive is crash-safe: what was not
// committed is fetched again by the next run).
const stopTimeout = 30 * time.Second

// defaultDaemonLockWait is how long a daemon's job waits for another
// process's lock on the archive when --lock-wait is not given.
const defaultDaemonLockWait = 15 * time.Minute

func newRunCmd(g *globals) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [JOB...]",
		Short: "Run the config's jobs once, or keep running them on their schedules (--daemon)",
		Long: `Runs the jobs of the config (all of them by default, in name order) once, now,
whether they have a schedule or not, and exits with the worst exit code of
them: interrupted (130) > usage or config error (2) > failed (1) > partly
done (3) > all done (0).

With --daemon, mailkeep stays up and starts each job with a schedule at its
times (the jobs named, or all scheduled jobs). A job never overlaps itself:
a run that comes due while the previous one is still going is skipped and
logged. SIGINT or SIGTERM stops it: running jobs finish the message in
flight, commit, and it exits with status 0 (a second signal, or jobs
still running after 30 seconds, make it exit at once with 130).
SIGHUP re-reads the config; a config that does not load is reported and
the previous one kept.

--shard I/N takes only the accounts whose name hashes to shard I of N
(0 <= I < N; FNV-1a of the name, mod N), so N machines or a Kubernetes
Indexed Job (I = $JOB_COMPLETION_INDEX) split an account list with no
overlap and no gap. A backup job is split account by account; a migrate,
cleanup or export job goes with its (source) account.

Logs go to standard error (text, or --log-format json): a line per job,
account and folder at info, protocol detail with -vv. Each job's result is
a line on standard output (a JSON object with --json).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("lock-wait") && o.daemon {
				o.lockWait = defaultDaemonLockWait
			}
			return g.runJobs(cmd.Context(), args, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.daemon, "daemon", false, "keep running and start jobs on their schedules")
	f.StringVar(&o.shard, "shard", "", "take only the accounts of shard `I/N` (I counts from 0)")
	f.DurationVar(&o.lockWait, "lock-wait", 0, "how long a job waits while another process writes the archive before it is skipped (default 0s, with --daemon 15m)")
	f.StringVar(&o.metricsFile, "metrics-file", "", "after each job, write Prometheus metrics to this file (node_exporter textfile collector)")
	return cmd
}

// runLogger is the job runner's logger: info by default (a scheduler
// that says nothing is hard to operate), -v adds debug, -q keeps errors.
func (g *globals) runLogger() *slog.Logger {
	level := slog.LevelInfo
	switch {
	case g.quiet:
		level = slog.LevelError
	case g.verbose > 0:
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}

func (g *globals) runJobs(ctx context.Context, names []string, o *runOptions) error {
	if g.logFormat != "text" && g.logFormat != "json" {
		return usageErr("--log-format %q: want text or json", g.logFormat)
	}
	r := &runner{g: g, log: g.runLogger(), lockWait: o.lockWait, metricsFile: o.metricsFile, now: time.Now}
	if o.shard != "" {
		s, err := shard.Parse(o.shard)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--shard: %w", err),
				hint: "in a Kubernetes Indexed Job: --shard $(JOB_COMPLETION_INDEX)/N with N = completions"}
		}
		r.shard = s
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	if _, err := selectJobs(cfg, names, o.daemon); err != nil {
		return err
	}
	r.setConfig(cfg)
	if o.daemon {
		return r.daemon(ctx, names)
	}
	return r.once(ctx, names)
}

// selectJobs returns the named jobs (all, or with daemon all scheduled
// ones, by default) in name order.
func selectJobs(cfg *config.Config, names []string, daemon bool) ([]*config.Job, error) {
	if len(cfg.Jobs) == 0 {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s has no jobs", cfg.Path),
			hint: "add a jobs: section (see examples/jobs.yaml), or use 'mailkeep backup' directly"}
	}
	var jobs []*config.Job
	if len(names) == 0 {
		for _, n := range cfg.JobNames() {
			if j := cfg.Jobs[n]; !daemon || j.Cron != nil {
				jobs = append(jobs, j)
			}
		}
		if daemon && len(jobs) == 0 {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("no job in %s has a schedule: --daemon has nothing to do", cfg.Path),
				hint: "add schedule: to a job, or run jobs once with 'mailkeep run JOB'"}
		}
		return jobs, nil
	}
	seen := map[string]bool{}
	for _, n := range names {
		j, ok := cfg.Jobs[n]
		if !ok {
			return nil, usageErr("no job %q in %s (jobs: %s)", n, cfg.Path, strings.Join(cfg.JobNames(), ", "))
		}
		if daemon && j.Cron == nil {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("job %q has no schedule: --daemon runs jobs on their schedules", n),
				hint: "give it a schedule:, or run it once with 'mailkeep run " + n + "'"}
		}
		if !seen[n] {
			seen[n] = true
			jobs = append(jobs, j)
		}
	}
	// Name order, as documented, whatever the order on the command line.
	sortJobs(jobs)
	return jobs, nil
}

func sortJobs(jobs []*config.Job) {
	for i := 1; i < len(jobs); i++ {
		for k := i; k > 0 && jobs[k].Name < jobs[k-1].Name; k-- {
			jobs[k], jobs[k-1] = jobs[k-1], jobs[k]
		}
	}
}

// once runs the jobs one after the other and exits with the worst code.
func (r *runner) once(ctx context.Context, names []string) error {
	cfg := r.config()
	jobs, _ := selectJobs(cfg, names, false)
	code := exitOK
	var failed []string
	for _, j := range jobs {
		if ctx.Err() != nil {
			code = worst(code, exitInterrupted)
			break
		}
		res := r.runJob(ctx, cfg, j, false)
		r.finishJob(ctx, cfg, j, res)
		code = worst(code, res.Code)
		if res.Code != exitOK {
			failed = append(failed, fmt.Sprintf("%s (%s)", j.Name, res.Status))
		}
	}
	if code == exitOK {
		return nil
	}
	ee := &exitError{code: code}
	if code != exitInterrupted {
		ee.err = fmt.Errorf("jobs not fully done: %s", strings.Join(failed, ", "))
	}
	return ee
}

// finishJob reports a job's result: a line (or JSON object) on standard
// output, on_failure when it failed or partly failed, the metrics file.
func (r *runner) finishJob(ctx context.Context, cfg *config.Config, j *config.Job, res *jobResult) {
	switch {
	case r.g.quiet && res.Code == exitOK:
		// -q: nothing on success, so cron mails only when something failed.
	case r.g.json:
		writeJSON(r.g.stdout, struct {
			Event string `json:"event"`
			*jobResult
		}{"job", res})
	default:
		r.printResult(res)
	}
	switch res.Code {
	case exitFailed, exitPartial, exitUsage:
		r.onFailure(ctx, cfg, j, res)
	}
	r.writeMetrics(ctx, cfg)
}

func (r *runner) printResult(res *jobResult) {
	line := fmt.Sprintf("%-16s %-8s %-11s %s", res.Job, res.Kind, strings.ToUpper(res.Status), res.Finished.Sub(res.Started).Round(100*time.Millisecond))
	var parts []string
	for _, s := range res.Accounts {
		parts = append(parts, s.line())
	}
	for _, s := range res.Skipped {
		parts = append(parts, s.Account+": skipped: "+s.Reason)
	}
	if res.Elsewhere > 0 {
		parts = append(parts, fmt.Sprintf("%d accounts in other shards", res.Elsewhere))
	}
	if res.Error != "" && len(res.Accounts) == 0 {
		parts = append(parts, res.Error)
	}
	if len(parts) > 0 {
		line += "  " + strings.Join(parts, "; ")
	}
	fmt.Fprintln(r.g.stdout, safeLine(line))
}

// writeMetrics writes the metrics file, if asked for; a failure is
// logged (monitoring must not stop backups).
func (r *runner) writeMetrics(ctx context.Context, cfg *config.Config) {
	if r.metricsFile == "" {
		return
	}
	r.mu.Lock()
	states := map[string]jobState{}
	for n, st := range r.state {
		sk := map[string]int{}
		for k, v := range st.skipped {
			sk[k] = v
		}
		states[n] = jobState{last: st.last, skipped: sk}
	}
	r.mu.Unlock()
	if err := writeMetricsFile(context.WithoutCancel(ctx), cfg, nil, r.metricsFile, r.now(), states); err != nil {
		r.log.Error("cannot write the metrics file", "path", r.metricsFile, "error", err)
	}
}

// daemon runs the scheduled jobs until ctx ends.
func (r *runner) daemon(ctx context.Context, names []string) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	sch := schedule.New(&schedule.Options{Logger: r.log, OnEvent: func(ev schedule.Event) {
		if ev.Kind == schedule.Skipped {
			r.countSkip(ev.Job, "overlap")
		}
	}})
	apply := func(cfg *config.Config) {
		jobs, err := selectJobs(cfg, names, true)
		if err != nil {
			r.log.Warn("no scheduled job to run after the reload", "error", err)
		}
		var sj []schedule.Job
		var list []string
		for _, j := range jobs {
			name := j.Name
			sj = append(sj, schedule.Job{
				Name: name, Key: j.Schedule + "|" + j.TimeZone + "|" + j.Jitter.String(), Schedule: j.Cron, Jitter: j.Jitter,
				Run: func(ctx context.Context) { r.scheduledRun(ctx, name) },
			})
			list = append(list, fmt.Sprintf("%s (%s, %s)", name, j.Schedule, j.Location))
		}
		sch.Set(sj)
		r.log.Info("scheduled jobs", "config", cfg.Path, "jobs", strings.Join(list, "; "), "shard", r.shard.String())
	}
	cfg := r.config()
	apply(cfg)
	r.log.Info("mailkeep daemon started", "pid", os.Getpid(), "archive", cfg.Archive, "lock_wait", r.lockWait.String())
	r.writeMetrics(ctx, cfg)

	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				path := r.config().Path
				next, warnings, err := config.Load(path)
				for _, w := range warnings {
					r.log.Warn("config: " + string(w))
				}
				if err != nil {
					r.log.Error("config reload failed; keeping the previous config", "config", path, "error", oneLine(err.Error()))
					continue
				}
				r.setConfig(next)
				r.log.Info("config reloaded", "config", path)
				apply(next)
			}
		}
	}()
	go func() {
		// After the first SIGINT/SIGTERM (ctx), a second one exits at
		// once: the archive is crash-safe, so nothing is lost but the
		// message in flight.
		<-ctx.Done()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		r.log.Info("stopping: running jobs finish the message in flight and commit")
		select {
		case <-again:
			r.log.Warn("second signal: exiting now")
		case <-time.After(stopTimeout):
			r.log.Error("running jobs did not stop in time; exiting now", "waited", stopTimeout.String(), "running", fmt.Sprint(sch.Running()))
		}
		os.Exit(exitInterrupted)
	}()
	err := sch.Run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return &exitError{code: exitFailed, err: err}
	}
	r.log.Info("mailkeep daemon stopped")
	return nil
}

// scheduledRun is one scheduled run of a job, with the config current
// when it starts.
func (r *runner) scheduledRun(ctx context.Context, name string) {
	cfg := r.config()
	j := cfg.Jobs[name]
	if j == nil {
		r.log.Warn("job no longer in the config; not run", "job", name)
		return
	}
	res := r.runJob(ctx, cfg, j, true)
	r.finishJob(ctx, cfg, j, res)
	r.catchUpSearch(ctx, cfg, j, res) // jobsearch.go
}
