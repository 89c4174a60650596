package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// statusEnv is a config (no server: status never connects) and an
// archive holding the given run history.
func statusEnv(t *testing.T, jobs string, runs []archive.Run) (cfgPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	var accts strings.Builder
	for _, a := range []string{"alice", "bob", "carol", "dave", "erin"} {
		fmt.Fprintf(&accts, "  %s:\n    imap: {host: imap.example.com}\n    username: %s\n    password_env: NOPE\n", a, a)
	}
	cfgPath = filepath.Join(dir, "mailkeep.yaml")
	text := fmt.Sprintf("archive: %s\naccounts:\n%s%s", filepath.Join(dir, "archive"), accts.String(), jobs)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if runs == nil {
		return cfgPath, dir
	}
	ctx := context.Background()
	repo, err := archive.Open(ctx, filepath.Join(dir, "archive"), &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if err := repo.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	repo.Close()
	return cfgPath, dir
}

func statusRun(t *testing.T, cfgPath string, json bool, names []string, maxAge time.Duration, metricsFile string, now time.Time) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{configPath: cfgPath, stdout: &out, stderr: &errb, json: json}
	err := g.status(context.Background(), names, maxAge, metricsFile, now)
	code := exitOK
	if err != nil {
		code = exitFailed
		if ee, ok := err.(*exitError); ok {
			code = ee.code
		}
		fmt.Fprintf(&errb, "mailkeep: error: %v\n", err)
	}
	return code, out.String(), errb.String()
}

var statusNow = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

func run1(acct, job, kind string, finishedAgo time.Duration, ok bool, msgs, bytes int64, errText string) archive.Run {
	f := statusNow.Add(-finishedAgo)
	r := archive.Run{Account: acct, Job: job, Kind: kind, Started: f.Add(-time.Minute), Finished: f, OK: ok, Messages: msgs, Bytes: bytes, Error: errText}
	if !ok {
		r.Errors = 1
	}
	return r
}

func statusHistory() []archive.Run {
	return []archive.Run{
		run1("alice", "nightly", "backup", 34*time.Hour, false, 0, 0, "imap login: authentication failed"),
		run1("alice", "nightly", "backup", 10*time.Hour, true, 120, 5000, ""),
		run1("alice", "trim", "cleanup", 2*time.Hour, false, 0, 0, "verify: hash mismatch"),
		run1("bob", "hourly", "backup", 96*time.Hour, true, 7, 700, ""),
		run1("bob", "hourly", "backup", 3*time.Hour-5*time.Second, false, 0, 0, "connect: connection refused"),
		run1("bob", "hourly", "backup", 2*time.Hour-5*time.Second, false, 0, 0, "connect: connection refused"),
		run1("bob", "hourly", "backup", time.Hour-5*time.Second, false, 0, 0, "connect: connection refused"),
		run1("dave", "", "backup", time.Hour, true, 3, 300, ""),
	}
}

const statusJobs = `jobs:
  nightly: {schedule: "0 3 * * *", backup: [alice, carol]}
  hourly: {schedule: "0 * * * *", backup: [bob]}
  trim: {cleanup: {account: alice, older_than: 2y}}
`

func TestStatusAfterSuccessesAndFailures(t *testing.T) {
	cfgPath, _ := statusEnv(t, statusJobs, statusHistory())
	code, out, errs := statusRun(t, cfgPath, true, nil, 36*time.Hour, "", statusNow)
	if code != exitFailed || !strings.Contains(errs, "no recent good backup of bob, carol") {
		t.Errorf("exit %d, stderr %q; want 1 naming bob (stale) and carol (never)", code, errs)
	}
	got := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		got[m["account"].(string)] = m
	}
	if len(got) != 4 || got["erin"] != nil {
		t.Errorf("accounts shown: %v; want alice, bob, carol (in a backup job) and dave (backed up before), not erin", keys(got))
	}
	check := func(acct, key string, want any) {
		t.Helper()
		if g := got[acct][key]; fmt.Sprint(g) != fmt.Sprint(want) {
			t.Errorf("%s.%s = %v, want %v", acct, key, g, want)
		}
	}
	check("alice", "state", "ok")
	check("alice", "last_success", statusNow.Add(-10*time.Hour).Local().Format(time.RFC3339))
	check("alice", "age_seconds", 36000)
	check("alice", "last_messages", 120)
	check("alice", "last_failure_kind", "cleanup")
	check("alice", "last_failure_job", "trim")
	check("alice", "last_failure_error", "verify: hash mismatch")
	check("alice", "consecutive_failures", 0)
	check("bob", "state", "stale")
	check("bob", "consecutive_failures", 3)
	check("bob", "last_failure_error", "connect: connection refused")
	// Three failures in a row, the last started at 10:59:05 on an hourly
	// schedule: 4 intervals, so the 12:00, 13:00 and 14:00 runs are
	// skipped and 15:00 tries again.
	check("bob", "backoff_job", "hourly")
	check("bob", "backoff_until", time.Date(2026, 5, 10, 14, 29, 5, 0, time.UTC).Local().Format(time.RFC3339))
	check("carol", "state", "never")
	check("carol", "last_success", nil)
	check("dave", "state", "ok")

	// Without --max-age, bob is "failing" and only carol fails the check.
	code, out, errs = statusRun(t, cfgPath, false, nil, 0, "", statusNow)
	if code != exitFailed || !strings.Contains(errs, "no recent good backup of carol\n") {
		t.Errorf("exit %d, %q; want 1 for carol only", code, errs)
	}
	for _, want := range [][]string{
		{"alice", "OK", "last good backup", "(10h0m ago), 120 messages, 4.9 KiB", "last failure", "(2h0m ago, cleanup job trim): verify: hash mismatch"},
		{"bob", "FAILING", "(4d0h ago)", "3 failed backups in a row", "job hourly backs off until"},
		{"carol", "NEVER", "never backed up successfully"},
	} {
		if lineWith(out, want...) == "" {
			t.Errorf("no line with %q in:\n%s", want, out)
		}
	}

	// Named accounts only; all good: exit 0.
	if code, out, errs := statusRun(t, cfgPath, false, []string{"alice", "dave"}, 36*time.Hour, "", statusNow); code != exitOK {
		t.Errorf("status alice dave = %d\n%s%s", code, out, errs)
	}
	if code, _, errs := statusRun(t, cfgPath, false, []string{"zed"}, 0, "", statusNow); code != exitUsage || !strings.Contains(errs, `no account "zed"`) {
		t.Errorf("status zed = %d, %q", code, errs)
	}
}

func TestStatusWithoutArchive(t *testing.T) {
	cfgPath, _ := statusEnv(t, statusJobs, nil)
	code, out, errs := statusRun(t, cfgPath, false, nil, 0, "", statusNow)
	if code != exitFailed || !strings.Contains(out, "none yet") || !strings.Contains(errs, "alice, bob, carol") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

func TestStatusCLI(t *testing.T) {
	cfgPath, dir := statusEnv(t, statusJobs, statusHistory())
	prom := filepath.Join(dir, "mailkeep.prom")
	var out, errb bytes.Buffer
	code := run([]string{"--config", cfgPath, "status", "alice", "--max-age", "100000d", "--metrics-file", prom}, &out, &errb)
	if code != exitOK {
		t.Fatalf("status = %d\n%s%s", code, out.String(), errb.String())
	}
	b, err := os.ReadFile(prom)
	if err != nil || !strings.Contains(string(b), `mailkeep_backup_last_success_timestamp_seconds{account="alice"} `) {
		t.Errorf("metrics file: %v\n%s", err, b)
	}
	code = run([]string{"--config", cfgPath, "status", "--max-age", "soon"}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), `--max-age "soon": want a duration like 36h or 2d`) {
		t.Errorf("status --max-age soon = %d, %s", code, errb.String())
	}
}

func TestMetricsFileContents(t *testing.T) {
	t0 := statusNow
	runs := []archive.Run{
		{Account: "alice", Job: "nightly", Kind: "backup", Started: t0.Add(-50 * time.Hour), Finished: t0.Add(-49 * time.Hour), Errors: 2, Error: "x"},
		{Account: "alice", Job: "nightly", Kind: "backup", Started: t0.Add(-26 * time.Hour), Finished: t0.Add(-25 * time.Hour), OK: true, Messages: 120, Bytes: 5000},
		{Account: "bob", Job: "hourly", Kind: "backup", Started: t0.Add(-2 * time.Hour), Finished: t0.Add(-2*time.Hour + 30*time.Second), Errors: 1, Error: "refused"},
		{Account: "bob", Job: "hourly", Kind: "backup", Started: t0.Add(-1 * time.Hour), Finished: t0.Add(-1*time.Hour + 30*time.Second), Errors: 1, Error: "refused"},
		{Account: "gone", Job: "old", Kind: "backup", Started: t0.Add(-9 * time.Hour), Finished: t0.Add(-8 * time.Hour), OK: true},
	}
	cfgPath, dir := statusEnv(t, "jobs:\n  nightly: {backup: [alice, carol]}\n  hourly: {backup: [bob]}\n", runs)
	g := &globals{configPath: cfgPath, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cfg, err := g.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(dir, "m.prom")
	states := map[string]jobState{"nightly": {
		last:    &jobResult{Code: 3, Finished: t0.Add(-time.Minute)},
		skipped: map[string]int{"overlap": 2, "budget": 1},
	}}
	if err := writeMetricsFile(context.Background(), cfg, nil, prom, t0, states); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(prom)
	u := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	want := fmt.Sprintf(`# HELP mailkeep_backup_last_success_timestamp_seconds Unix time of the account's last successful backup, any job; 0: never.
# TYPE mailkeep_backup_last_success_timestamp_seconds gauge
mailkeep_backup_last_success_timestamp_seconds{account="alice"} %d
mailkeep_backup_last_success_timestamp_seconds{account="bob"} 0
mailkeep_backup_last_success_timestamp_seconds{account="carol"} 0
# HELP mailkeep_backup_consecutive_failures Failed backups of the account since its last good one.
# TYPE mailkeep_backup_consecutive_failures gauge
mailkeep_backup_consecutive_failures{account="alice"} 0
mailkeep_backup_consecutive_failures{account="bob"} 2
mailkeep_backup_consecutive_failures{account="carol"} 0
# HELP mailkeep_archive_messages Messages the archive holds of the account (on the server or taken off it by mailkeep).
# TYPE mailkeep_archive_messages gauge
mailkeep_archive_messages{account="alice"} 0
mailkeep_archive_messages{account="bob"} 0
mailkeep_archive_messages{account="carol"} 0
# HELP mailkeep_archive_bytes Raw bytes of the messages the archive holds of the account.
# TYPE mailkeep_archive_bytes gauge
mailkeep_archive_bytes{account="alice"} 0
mailkeep_archive_bytes{account="bob"} 0
mailkeep_archive_bytes{account="carol"} 0
# HELP mailkeep_last_run_timestamp_seconds Unix time the newest run ended.
# TYPE mailkeep_last_run_timestamp_seconds gauge
mailkeep_last_run_timestamp_seconds{account="alice",job="nightly",kind="backup"} %d
mailkeep_last_run_timestamp_seconds{account="bob",job="hourly",kind="backup"} %d
# HELP mailkeep_last_success_timestamp_seconds Unix time the newest successful run ended; 0: never.
# TYPE mailkeep_last_success_timestamp_seconds gauge
mailkeep_last_success_timestamp_seconds{account="alice",job="nightly",kind="backup"} %d
mailkeep_last_success_timestamp_seconds{account="bob",job="hourly",kind="backup"} 0
# HELP mailkeep_last_run_success 1 if the newest run succeeded.
# TYPE mailkeep_last_run_success gauge
mailkeep_last_run_success{account="alice",job="nightly",kind="backup"} 1
mailkeep_last_run_success{account="bob",job="hourly",kind="backup"} 0
# HELP mailkeep_last_run_duration_seconds How long the newest run took.
# TYPE mailkeep_last_run_duration_seconds gauge
mailkeep_last_run_duration_seconds{account="alice",job="nightly",kind="backup"} 3600
mailkeep_last_run_duration_seconds{account="bob",job="hourly",kind="backup"} 30
# HELP mailkeep_last_run_messages Messages handled by the newest run.
# TYPE mailkeep_last_run_messages gauge
mailkeep_last_run_messages{account="alice",job="nightly",kind="backup"} 120
mailkeep_last_run_messages{account="bob",job="hourly",kind="backup"} 0
# HELP mailkeep_last_run_bytes Bytes handled by the newest run.
# TYPE mailkeep_last_run_bytes gauge
mailkeep_last_run_bytes{account="alice",job="nightly",kind="backup"} 5000
mailkeep_last_run_bytes{account="bob",job="hourly",kind="backup"} 0
# HELP mailkeep_last_run_errors Errors in the newest run.
# TYPE mailkeep_last_run_errors gauge
mailkeep_last_run_errors{account="alice",job="nightly",kind="backup"} 0
mailkeep_last_run_errors{account="bob",job="hourly",kind="backup"} 1
# HELP mailkeep_consecutive_failures Failed runs since the last good one.
# TYPE mailkeep_consecutive_failures gauge
mailkeep_consecutive_failures{account="alice",job="nightly",kind="backup"} 0
mailkeep_consecutive_failures{account="bob",job="hourly",kind="backup"} 2
# HELP mailkeep_messages_total Messages handled, all runs.
# TYPE mailkeep_messages_total counter
mailkeep_messages_total{account="alice",job="nightly",kind="backup"} 120
mailkeep_messages_total{account="bob",job="hourly",kind="backup"} 0
# HELP mailkeep_bytes_total Bytes handled, all runs.
# TYPE mailkeep_bytes_total counter
mailkeep_bytes_total{account="alice",job="nightly",kind="backup"} 5000
mailkeep_bytes_total{account="bob",job="hourly",kind="backup"} 0
# HELP mailkeep_errors_total Errors, all runs.
# TYPE mailkeep_errors_total counter
mailkeep_errors_total{account="alice",job="nightly",kind="backup"} 2
mailkeep_errors_total{account="bob",job="hourly",kind="backup"} 2
# HELP mailkeep_runs_total Runs, by result.
# TYPE mailkeep_runs_total counter
mailkeep_runs_total{account="alice",job="nightly",kind="backup",result="ok"} 1
mailkeep_runs_total{account="alice",job="nightly",kind="backup",result="failed"} 1
mailkeep_runs_total{account="bob",job="hourly",kind="backup",result="ok"} 0
mailkeep_runs_total{account="bob",job="hourly",kind="backup",result="failed"} 2
# HELP mailkeep_job_last_exit_code Exit code of the job's newest run in this process (0 ok, 1 failed, 2 config, 3 partial, 130 interrupted).
# TYPE mailkeep_job_last_exit_code gauge
mailkeep_job_last_exit_code{job="nightly"} 3
# HELP mailkeep_job_last_run_timestamp_seconds Unix time the job's newest run in this process ended.
# TYPE mailkeep_job_last_run_timestamp_seconds gauge
mailkeep_job_last_run_timestamp_seconds{job="nightly"} %d
# HELP mailkeep_job_skipped_total Runs (overlap, locked) or accounts (backoff, budget) skipped by this process.
# TYPE mailkeep_job_skipped_total counter
mailkeep_job_skipped_total{job="nightly",reason="overlap"} 2
mailkeep_job_skipped_total{job="nightly",reason="locked"} 0
mailkeep_job_skipped_total{job="nightly",reason="backoff"} 0
mailkeep_job_skipped_total{job="nightly",reason="budget"} 1
# HELP mailkeep_metrics_timestamp_seconds Unix time this file was written.
# TYPE mailkeep_metrics_timestamp_seconds gauge
mailkeep_metrics_timestamp_seconds %d
`, u(-25*time.Hour), u(-25*time.Hour), u(-2*time.Hour+30*time.Second)+3600, u(-25*time.Hour), u(-time.Minute), t0.Unix())
	if string(got) != want {
		t.Errorf("metrics file:\n%s\nwant:\n%s", got, want)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestStatusNamesTheWriter(t *testing.T) {
	cfgPath, dir := statusEnv(t, statusJobs, statusHistory())
	repo, err := archive.Open(context.Background(), filepath.Join(dir, "archive"), &archive.Options{Purpose: "mailkeep backup"})
	if err != nil {
		t.Fatal(err)
	}
	_, out, _ := statusRun(t, cfgPath, false, []string{"alice"}, 0, "", statusNow)
	if want := fmt.Sprintf("being written now by pid %d on ", os.Getpid()); !strings.Contains(out, want) || !strings.Contains(out, ": mailkeep backup\n") {
		t.Errorf("status while locked:\n%s\nwant a line with %q", out, want)
	}
	repo.Close()
	if _, out, _ := statusRun(t, cfgPath, false, []string{"alice"}, 0, "", statusNow); strings.Contains(out, "being written") {
		t.Errorf("status after the writer left still names it:\n%s", out)
	}
}
