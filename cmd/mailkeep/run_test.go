package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/sample"
	"github.com/mailkeep/mailkeep/internal/shard"
)

// rjEnv is an IMAP server with users and a config file for 'run' tests.
type rjEnv struct {
	srv     *imapsrv.Server
	dir     string
	config  string
	archive string
	port    string
}

// newRJEnv starts a server with the users (password "pw-USER") each
// holding n INBOX messages, and writes a config with an account per
// user (password_env RJ_PW_USER) plus extra YAML (jobs, more accounts).
func newRJEnv(t *testing.T, users []string, n int, extra string) *rjEnv {
	t.Helper()
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(srv.Addr())
	e := &rjEnv{srv: srv, dir: t.TempDir(), port: port}
	e.archive = filepath.Join(e.dir, "archive")
	var accts strings.Builder
	for i, u := range users {
		srv.AddUser(u, "pw-"+u)
		for _, m := range sample.Generate(n, uint64(i+1)) {
			srv.AddMessage(u, "INBOX", m.Raw, m.Flags, m.Date)
		}
		env := "RJ_PW_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(u))
		t.Setenv(env, "pw-"+u)
		fmt.Fprintf(&accts, "  %s:\n    imap: {host: 127.0.0.1, port: %s, security: none, timeout: 10s}\n    username: %s\n    password_env: %s\n", u, port, u, env)
	}
	e.writeConfig(t, fmt.Sprintf("archive: %s\naccounts:\n%s%s", e.archive, accts.String(), extra))
	return e
}

func (e *rjEnv) writeConfig(t *testing.T, text string) {
	t.Helper()
	e.config = filepath.Join(e.dir, "mailkeep.yaml")
	if err := os.WriteFile(e.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *rjEnv) cli(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"--config", e.config}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// runs returns the recorded runs, oldest first.
func (e *rjEnv) runs(t *testing.T) []archive.Run {
	t.Helper()
	repo, err := archive.Open(context.Background(), e.archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	runs, err := repo.Runs(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	return runs
}

func lineWith(out string, parts ...string) string {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return l
		}
	}
	return ""
}

func TestSeverityOrder(t *testing.T) {
	order := []int{exitOK, exitPartial, exitFailed, exitUsage, exitInterrupted}
	for i := range order {
		for k := range order {
			want := order[max(i, k)]
			if got := worst(order[i], order[k]); got != want {
				t.Errorf("worst(%d, %d) = %d, want %d", order[i], order[k], got, want)
			}
		}
	}
}

func TestRunOnceExitCodes(t *testing.T) {
	e := newRJEnv(t, []string{"alice", "carol"}, 5, `  mallory:
    imap: {host: 127.0.0.1, port: PORT, security: none, timeout: 5s}
    username: mallory
    password_env: RJ_PW_MALLORY
jobs:
  good: {backup: [alice, carol]}
  mixed: {backup: [alice, mallory]}
  bad: {backup: [mallory]}
`)
	t.Setenv("RJ_PW_MALLORY", "wrong")
	text, _ := os.ReadFile(e.config)
	e.writeConfig(t, strings.ReplaceAll(string(text), "PORT", e.port))

	code, out, errs := e.cli("run", "good")
	if code != exitOK {
		t.Fatalf("run good = %d, want 0\n%s%s", code, out, errs)
	}
	if l := lineWith(out, "good", "backup", "OK", "alice: ok (new 5", "carol: ok (new 5"); l == "" {
		t.Errorf("run good printed %q, want a line with both accounts", out)
	}
	// Info logs: a line per account and folder, with the job's name.
	if lineWith(errs, "level=INFO", "job=good", "account=alice", "folder=INBOX") == "" {
		t.Errorf("no info log line for alice/INBOX in:\n%s", errs)
	}
	if strings.Contains(errs, "pw-alice") {
		t.Error("a password appears in the logs")
	}

	// All jobs, in name order: bad (failed), good (ok), mixed (partial).
	code, out, errs = e.cli("run")
	if code != exitFailed {
		t.Fatalf("run (all) = %d, want 1 (the worst of 1, 0, 3)\n%s%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "bad ") || !strings.HasPrefix(lines[1], "good ") || !strings.HasPrefix(lines[2], "mixed ") {
		t.Fatalf("run printed %q, want bad, good, mixed in that order", out)
	}
	if !strings.Contains(lines[0], "FAILED") || !strings.Contains(lines[2], "PARTIAL") || !strings.Contains(lines[2], "mallory: FAILED") {
		t.Errorf("statuses wrong:\n%s", out)
	}
	if !strings.Contains(errs, "mailkeep: error: jobs not fully done: bad (failed), mixed (partial)") {
		t.Errorf("stderr lacks the summary error:\n%s", errs)
	}
	if strings.Contains(errs, "wrong") && strings.Contains(errs, "password=wrong") {
		t.Error("a password appears in the logs")
	}
	// Runs are recorded with their job's name.
	jobs := map[string]int{}
	for _, r := range e.runs(t) {
		jobs[r.Job+"/"+r.Account]++
	}
	for _, k := range []string{"good/alice", "good/carol", "bad/mallory", "mixed/alice", "mixed/mallory"} {
		if jobs[k] == 0 {
			t.Errorf("no run recorded for %s; have %v", k, jobs)
		}
	}

	// --json: one object per job.
	code, out, _ = e.cli("--json", "run", "mixed")
	if code != exitPartial || !strings.Contains(out, `"event":"job"`) || !strings.Contains(out, `"status":"partial"`) || !strings.Contains(out, `"exit_code":3`) {
		t.Errorf("run --json mixed = %d, %s", code, out)
	}
}

func TestRunBadInput(t *testing.T) {
	e := newRJEnv(t, []string{"alice"}, 1, "jobs:\n  nightly: {backup: [alice]}\n  manual: {backup: [alice]}\n")
	base, _ := os.ReadFile(e.config)
	for _, tc := range []struct {
		name   string
		config string // replaces the jobs section when not ""
		args   []string
		want   []string
	}{
		{"unknown job", "", []string{"run", "nope"}, []string{`no job "nope" in`, "(jobs: manual, nightly)"}},
		{"daemon without schedules", "", []string{"run", "--daemon"}, []string{"no job in", "has a schedule", "hint: add schedule: to a job"}},
		{"daemon with an unscheduled job", "", []string{"run", "--daemon", "manual"}, []string{`job "manual" has no schedule`}},
		{"bad shard", "", []string{"run", "--shard", "3/3"}, []string{"--shard: shard \"3/3\": index must be from 0 to 2", "JOB_COMPLETION_INDEX"}},
		{"bad shard syntax", "", []string{"run", "--shard", "half"}, []string{"want INDEX/COUNT"}},
		{"bad cron", "jobs:\n  n: {schedule: \"61 * * * *\", backup: [alice]}\n", []string{"run"}, []string{"jobs.n.schedule", "bad schedule", "61"}},
		{"bad time zone", "jobs:\n  n: {schedule: \"@daily\", timezone: Mars/Olympus, backup: [alice]}\n", []string{"run"}, []string{"jobs.n.timezone", "unknown time zone", "Mars/Olympus"}},
		{"unknown job kind", "jobs:\n  n: {rsync: [alice]}\n", []string{"run"}, []string{"jobs.n", "rsync"}},
		{"unknown account", "jobs:\n  n: {backup: [alice, bob]}\n", []string{"run"}, []string{"jobs.n.backup[1]", "bob"}},
		{"no jobs", "\n", []string{"run"}, []string{"has no jobs", "hint: add a jobs: section"}},
		{"bad log format", "", []string{"--log-format", "xml", "run"}, []string{`--log-format "xml": want text or json`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := string(base)
			if tc.config != "" {
				text = text[:strings.Index(text, "jobs:")] + tc.config
			}
			e.writeConfig(t, text)
			code, out, errs := e.cli(tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if _, err := os.Stat(e.archive); err == nil {
				t.Errorf("a usage error created the archive")
			}
		})
	}
}

func TestRunCommandNotInThisBuild(t *testing.T) {
	// A job whose command does not exist (or takes other flags) fails
	// with cobra's message, as a config error, and the other jobs run.
	e := newRJEnv(t, []string{"alice"}, 2, "jobs:\n  a-backup: {backup: [alice]}\n  b-export: {export: {account: alice, format: mbox, out: OUT}}\n")
	text, _ := os.ReadFile(e.config)
	e.writeConfig(t, strings.ReplaceAll(string(text), "OUT", filepath.Join(e.dir, "out")))
	code, out, errs := e.cli("run")
	if lineWith(out, "a-backup", "OK") == "" {
		t.Errorf("the backup job did not run:\n%s\n%s", out, errs)
	}
	if _, ok := lookupCommand("export"); ok {
		if lineWith(out, "b-export", "OK") == "" {
			t.Errorf("export exists but its job failed (exit %d):\n%s\n%s", code, out, errs)
		}
		return
	}
	if code != exitUsage || lineWith(out, "b-export", "CONFIG", "unknown command") == "" {
		t.Errorf("exit %d, want 2 with an unknown-command line:\n%s\n%s", code, out, errs)
	}
}

func lookupCommand(name string) (string, bool) {
	root := newRoot(&globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	c, _, err := root.Find([]string{name})
	if err != nil || c == root {
		return "", false
	}
	return c.Name(), true
}

func TestRunOnFailure(t *testing.T) {
	e := newRJEnv(t, []string{"alice"}, 1, "")
	got := filepath.Join(e.dir, "summary.txt")
	text, _ := os.ReadFile(e.config)
	e.writeConfig(t, string(text)+fmt.Sprintf(`  mallory:
    imap: {host: 127.0.0.1, port: %s, security: none}
    username: mallory
    password_env: RJ_PW_MALLORY
jobs:
  fine: {backup: [alice], on_failure: "echo should-not-run > %s"}
  broken: {backup: [mallory], on_failure: "{ echo \"$MAILKEEP_JOB $MAILKEEP_STATUS $MAILKEEP_EXIT_CODE\"; cat; } > %s"}
  noisy: {backup: [mallory], on_failure: "echo hook-output; exit 7"}
`, e.port, got, got))
	t.Setenv("RJ_PW_MALLORY", "wrong")

	if code, out, errs := e.cli("run", "fine"); code != 0 {
		t.Fatalf("run fine = %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(got); err == nil {
		t.Fatal("on_failure ran for a job that succeeded")
	}
	code, _, errs := e.cli("run", "broken")
	if code != exitFailed {
		t.Fatalf("run broken = %d, want 1\n%s", code, errs)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("on_failure did not run: %v\n%s", err, errs)
	}
	host, _ := os.Hostname()
	s := string(b)
	for _, w := range []string{
		"broken failed 1\n",
		fmt.Sprintf("mailkeep job broken (backup) on %s: failed, exit code 1\n", host),
		"command: mailkeep --config " + e.config + " --job broken backup mallory\n",
		"mallory: FAILED: ",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("summary lacks %q:\n%s", w, s)
		}
	}
	if strings.Contains(s, "wrong") {
		t.Error("the summary holds the password")
	}

	// JSON summary with --json.
	os.Remove(got)
	e.cli("--json", "run", "broken")
	b, _ = os.ReadFile(got)
	if !strings.Contains(string(b), `"job":"broken"`) || !strings.Contains(string(b), `"status":"failed"`) {
		t.Errorf("JSON summary = %s", b)
	}

	// A failing hook is logged, with its output, and changes nothing else.
	code, _, errs = e.cli("run", "noisy")
	if code != exitFailed {
		t.Errorf("run noisy = %d, want 1 (the job's code, not the hook's)", code)
	}
	if l := lineWith(errs, "on_failure command failed", "job=noisy", "exit status 7", "hook-output"); l == "" {
		t.Errorf("the hook's failure is not logged:\n%s", errs)
	}
}

func TestRunShardsCoverEveryAccountOnce(t *testing.T) {
	var users []string
	for i := range 9 {
		users = append(users, fmt.Sprintf("user%d", i))
	}
	e := newRJEnv(t, users, 1, "jobs:\n  all: {backup: ["+strings.Join(users, ", ")+"]}\n")
	const n = 3
	for i := range n {
		code, out, errs := e.cli("run", "--shard", fmt.Sprintf("%d/%d", i, n), "all")
		if code != exitOK {
			t.Fatalf("shard %d: exit %d\n%s%s", i, code, out, errs)
		}
	}
	count := map[string]int{}
	for _, r := range e.runs(t) {
		count[r.Account]++
	}
	for _, u := range users {
		if count[u] != 1 {
			t.Errorf("%s backed up %d times over %d shards, want exactly once", u, count[u], n)
		}
	}
	// Each shard ran exactly the accounts that hash to it.
	runs := e.runs(t)
	k := 0
	for i := range n {
		s := shard.Shard{Index: i, Count: n}
		mine := s.Filter(users)
		got := map[string]bool{}
		for _, r := range runs[k : k+len(mine)] {
			got[r.Account] = true
		}
		for _, u := range mine {
			if !got[u] {
				t.Errorf("shard %d did not back up %s", i, u)
			}
		}
		k += len(mine)
	}
}

func TestRunSkipsWhenLocked(t *testing.T) {
	e := newRJEnv(t, []string{"alice"}, 3, "jobs:\n  nightly: {backup: [alice]}\n")
	ctx := context.Background()
	holder, err := archive.Open(ctx, e.archive, &archive.Options{Create: true, Purpose: "test holding the lock"})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := e.cli("run", "nightly")
	if code != exitFailed {
		t.Fatalf("run while locked = %d, want 1\n%s%s", code, out, errs)
	}
	want := fmt.Sprintf("pid %d", os.Getpid())
	if lineWith(errs, "job skipped: the archive is locked by another process", want, "test holding the lock") == "" {
		t.Errorf("the log does not say who holds the lock:\n%s", errs)
	}
	if lineWith(out, "nightly", "FAILED", "skipped: archive", "locked") == "" {
		t.Errorf("result line = %q", out)
	}
	// --lock-wait: released once the job says it waits, the job runs.
	defer func(p time.Duration) { lockPoll = p }(lockPoll)
	lockPoll = 10 * time.Millisecond
	waiting := make(chan struct{})
	logs := &notifyWriter{want: "archive locked by another process; waiting for it", seen: waiting}
	go func() {
		<-waiting
		holder.Close()
	}()
	var stdout bytes.Buffer
	code = run([]string{"--config", e.config, "run", "--lock-wait", "20s", "nightly"}, &stdout, logs)
	out, errs = stdout.String(), logs.String()
	if code != exitOK {
		t.Fatalf("run --lock-wait = %d\n%s%s", code, out, errs)
	}
	if lineWith(errs, "archive locked by another process; waiting for it", "up_to=20s") == "" {
		t.Errorf("the wait is not logged:\n%s", errs)
	}
}

// notifyWriter closes seen when want is first written to it.
type notifyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	done bool
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestRunDailyBudget(t *testing.T) {
	e := newRJEnv(t, []string{"alice", "carol"}, 2, "jobs:\n  nightly: {backup: [alice, carol]}\n")
	text, _ := os.ReadFile(e.config)
	e.writeConfig(t, strings.Replace(string(text), "    username: alice\n", "    username: alice\n    max_bytes_per_day: 10KB\n", 1))
	// Yesterday evening alice fetched 12 KB: still inside the 24 hours.
	ctx := context.Background()
	repo, err := archive.Open(ctx, e.archive, &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	repo.RecordRun(ctx, archive.Run{Account: "alice", Job: "nightly", Kind: "backup", Started: now.Add(-5 * time.Hour), Finished: now.Add(-4 * time.Hour), OK: true, Bytes: 12000})
	repo.RecordRun(ctx, archive.Run{Account: "alice", Job: "nightly", Kind: "backup", Started: now.Add(-30 * time.Hour), Finished: now.Add(-29 * time.Hour), OK: true, Bytes: 99999})
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	repo.Close()
	code, out, errs := e.cli("run", "nightly")
	if code != exitOK {
		t.Fatalf("run = %d\n%s%s", code, out, errs)
	}
	if lineWith(out, "carol: ok", "alice: skipped: daily download budget spent: 11.7 KiB of 9.8 KiB") == "" {
		t.Errorf("want carol backed up and alice skipped for her budget:\n%s\n%s", out, errs)
	}
	for _, r := range e.runs(t)[2:] {
		if r.Account == "alice" {
			t.Errorf("alice was backed up past her budget: %+v", r)
		}
	}
}

func TestRunBacksOffFailingAccounts(t *testing.T) {
	e := newRJEnv(t, []string{"alice", "carol"}, 1, "jobs:\n  hourly: {schedule: \"0 * * * *\", backup: [alice, carol]}\n")
	ctx := context.Background()
	now := time.Date(2026, 5, 10, 12, 0, 3, 0, time.UTC)
	repo, err := archive.Open(ctx, e.archive, &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	// carol failed at 09:00, 10:00 and 11:00: four intervals of back-off.
	for h := 9; h <= 11; h++ {
		st := time.Date(2026, 5, 10, h, 0, 2, 0, time.UTC)
		repo.RecordRun(ctx, archive.Run{Account: "carol", Job: "hourly", Kind: "backup", Started: st, Finished: st.Add(time.Second), Error: "login failed", Errors: 1})
	}
	repo.Commit(ctx)
	repo.Close()

	g := &globals{configPath: e.config, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cfg, err := g.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	g.stderr = &logs
	r := &runner{g: g, log: g.runLogger(), now: func() time.Time { return now }}
	r.setConfig(cfg)

	res := r.runJob(ctx, cfg, cfg.Jobs["hourly"], true)
	if res.Code != exitOK || len(res.Accounts) != 1 || res.Accounts[0].Account != "alice" {
		t.Fatalf("scheduled run: code %d, ran %v; want alice only\n%s", res.Code, res.Accounts, logs.String())
	}
	want := "failed 3 runs in a row; backing off until 2026-05-10T14:30:02Z"
	if len(res.Skipped) != 1 || res.Skipped[0].Account != "carol" || res.Skipped[0].Reason != want {
		t.Errorf("skipped %+v, want carol: %s", res.Skipped, want)
	}
	if r.state["hourly"].skipped["backoff"] != 1 {
		t.Errorf("back-off not counted: %v", r.state["hourly"].skipped)
	}
	// Run by hand (not scheduled), nothing is held back.
	res = r.runJob(ctx, cfg, cfg.Jobs["hourly"], false)
	if len(res.Accounts) != 2 || len(res.Skipped) != 0 {
		t.Errorf("manual run: ran %d accounts, skipped %v; want both run", len(res.Accounts), res.Skipped)
	}
}

func TestRunArchiveNotWritable(t *testing.T) {
	e := newRJEnv(t, []string{"alice"}, 1, "jobs:\n  nightly: {backup: [alice]}\n")
	file := filepath.Join(e.dir, "a-file")
	os.WriteFile(file, nil, 0o600)
	text, _ := os.ReadFile(e.config)
	e.writeConfig(t, strings.Replace(string(text), "archive: "+e.archive, "archive: "+filepath.Join(file, "archive"), 1))
	code, out, errs := e.cli("run", "nightly")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	if lineWith(out, "nightly", "FAILED", "a-file/archive", "not a directory") == "" {
		t.Errorf("result does not say what is wrong with the archive:\n%s\n%s", out, errs)
	}
}

func TestJobArgs(t *testing.T) {
	e := newRJEnv(t, []string{"alice", "carol"}, 0, `jobs:
  b: {backup: [alice, carol]}
  m: {migrate: {from: alice, to: carol, folders: {include: ["INBOX*"], exclude: [Trash]}}}
  c: {cleanup: {account: alice, older_than: 2y, before: 2020-01-01, larger_than: 10MB, exclude: [Drafts], by: date-header}, timezone: Europe/Berlin}
  x: {export: {account: alice, format: maildir, out: /srv/export, include_deleted: true, folders: [Sent]}}
`)
	g := &globals{configPath: e.config, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cfg, err := g.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	pre := "--config " + e.config + " --job "
	for name, want := range map[string]string{
		"b": pre + "b backup carol",
		"m": pre + "m migrate alice carol --folder INBOX* --exclude Trash",
		"c": pre + "c cleanup alice --older-than 2y --before 2020-01-01T00:00:00+01:00 --larger-than 10000000 --exclude Drafts --by date-header",
		"x": pre + "x export alice --format maildir --out /srv/export --force --folder Sent --include-deleted",
	} {
		accts := []string{"alice"}
		if name == "b" {
			accts = []string{"carol"} // what is left after sharding or back-off
		}
		got := strings.Join(jobArgs(cfg.Path, cfg.Jobs[name], accts), " ")
		if got != want {
			t.Errorf("jobArgs(%s) =\n%s\nwant\n%s", name, got, want)
		}
		// Each line must parse as this build's command line.
		root := newRoot(&globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
		c, rest, err := root.Find(jobArgs(cfg.Path, cfg.Jobs[name], accts))
		if err == nil && c != root {
			if err := c.ParseFlags(rest); err != nil {
				t.Errorf("jobArgs(%s): %s does not take these flags: %v", name, c.Name(), err)
			}
		}
	}
}

// A job's line names its accounts and counts, for every kind: the runner
// reads the operation's typed outcome, not its printed text.
func TestRunJobLinesNameAccountsAndCounts(t *testing.T) {
	e := newRJEnv(t, []string{"alice", "carol"}, 5, "jobs:\n  move: {migrate: {from: alice, to: carol}}\n  nightly: {backup: [alice]}\n")
	code, out, errs := e.cli("run", "move")
	if code != exitOK {
		t.Fatalf("run move = %d\n%s%s", code, out, errs)
	}
	if l := lineWith(out, "move", "migrate", "OK", "alice -> carol: ok (copied 5, adopted 0, "); l == "" {
		t.Errorf("migrate job line = %q, want the accounts and the counts", out)
	}
	if l := lineWith(errs, "account summary", "account=alice", "target=carol", "copied=5", "adopted=0"); l == "" {
		t.Errorf("no account summary log for the migration:\n%s", errs)
	}
	// Again: nothing new, all adopted from the ledger or known.
	code, out, errs = e.cli("run", "move")
	if code != exitOK || lineWith(out, "move", "migrate", "OK", "alice -> carol: ok (copied 0, ") == "" {
		t.Errorf("second run move = %d: %q\n%s", code, out, errs)
	}
	code, out, errs = e.cli("run", "nightly")
	if code != exitOK || lineWith(out, "nightly", "backup", "OK", "alice: ok (new 0") == "" {
		t.Errorf("backup job line = %d %q\n%s", code, out, errs)
	}
}
