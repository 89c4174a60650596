package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/shard"
)

// The deployment examples (systemd units, crontab, Kubernetes) hold
// mailkeep command lines and configs; each must parse, name jobs that
// exist, and use flags that exist.

const exampleConfigPath = "/etc/mailkeep/mailkeep.yaml"

func loadExample(t *testing.T, name string) *config.Config {
	t.Helper()
	cfg, warnings, err := config.Load(filepath.Join("..", "..", "examples", name))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("examples/%s: %v %v", name, err, warnings)
	}
	return cfg
}

// checkCommandLine parses args (without the program name) as mailkeep
// would, without running anything, and checks what it refers to.
func checkCommandLine(t *testing.T, where string, cfg *config.Config, args []string) (cmd string) {
	t.Helper()
	root := newRoot(&globals{stdout: io.Discard, stderr: io.Discard})
	c, rest, err := root.Find(args)
	if err != nil || c == root {
		t.Fatalf("%s: %q: no mailkeep command (%v)", where, args, err)
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Fatalf("%s: %q: %v", where, args, err)
	}
	pos := c.Flags().Args()
	if err := c.ValidateArgs(pos); err != nil {
		t.Fatalf("%s: %q: %v", where, args, err)
	}
	if p, _ := c.Flags().GetString("config"); p != exampleConfigPath {
		t.Errorf("%s: --config %q, want %s (the config the example goes with)", where, p, exampleConfigPath)
	}
	if lf, _ := c.Flags().GetString("log-format"); lf != "text" && lf != "json" {
		t.Errorf("%s: --log-format %q", where, lf)
	}
	switch c.Name() {
	case "run":
		daemon, _ := c.Flags().GetBool("daemon")
		if _, err := selectJobs(cfg, pos, daemon); err != nil {
			t.Errorf("%s: %q: %v", where, args, err)
		}
		if s, _ := c.Flags().GetString("shard"); s != "" {
			if _, err := shard.Parse(s); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
	case "status":
		if _, err := pickAccounts(cfg, pos); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if s, _ := c.Flags().GetString("max-age"); s != "" {
			if _, err := parseMaxAge(s); err != nil {
				t.Errorf("%s: --max-age: %v", where, err)
			}
		}
	default:
		t.Errorf("%s: %q: an example runs %s; this test knows run and status", where, args, c.Name())
	}
	return c.Name()
}

func TestExampleSystemdUnits(t *testing.T) {
	cfg := loadExample(t, "scheduled.yaml")
	dir := filepath.Join("..", "..", "examples", "systemd")
	seen := map[string]string{}
	for _, name := range []string{"mailkeep-backup.service", "mailkeep.service"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			cmdline, ok := strings.CutPrefix(line, "ExecStart=")
			if !ok {
				continue
			}
			n++
			words := strings.Fields(cmdline)
			if !strings.HasSuffix(words[0], "/mailkeep") {
				t.Fatalf("%s: ExecStart runs %s", name, words[0])
			}
			seen[name] = checkCommandLine(t, name, cfg, words[1:])
			if name == "mailkeep.service" && !strings.Contains(cmdline, " --daemon") {
				t.Errorf("%s: the daemon unit does not run --daemon", name)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d ExecStart lines, want 1", name, n)
		}
		if name == "mailkeep.service" && !strings.Contains(string(b), "ExecReload=/bin/kill -HUP $MAINPID") {
			t.Errorf("%s: no ExecReload sending SIGHUP", name)
		}
	}
	timer, err := os.ReadFile(filepath.Join(dir, "mailkeep-backup.timer"))
	if err != nil || !strings.Contains(string(timer), "\nOnCalendar=") || !strings.Contains(string(timer), "WantedBy=timers.target") {
		t.Errorf("mailkeep-backup.timer: %v\n%s", err, timer)
	}
	if seen["mailkeep-backup.service"] != "run" || seen["mailkeep.service"] != "run" {
		t.Errorf("units run %v", seen)
	}
}

// mailkeepCalls returns the argument lists of every call of a program
// whose path ends in /mailkeep in a shell command line.
func mailkeepCalls(command string) [][]string {
	var calls [][]string
	var cur []string
	in := false
	for _, w := range strings.Fields(command) {
		end := false
		if strings.HasSuffix(w, ";") {
			w, end = strings.TrimSuffix(w, ";"), true
		}
		switch {
		case strings.HasSuffix(w, "/mailkeep"):
			in, cur = true, nil
		case w == "||" || w == "&&" || w == "|" || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "2>"):
			if in {
				calls = append(calls, cur)
			}
			in = false
		case in:
			cur = append(cur, w)
		}
		if end && in {
			calls = append(calls, cur)
			in = false
		}
	}
	if in {
		calls = append(calls, cur)
	}
	return calls
}

func TestExampleCrontab(t *testing.T) {
	cfg := loadExample(t, "scheduled.yaml")
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "cron.txt"))
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	var cmds []string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.Contains(strings.Fields(line)[0], "=") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 7 {
			t.Fatalf("cron.txt:%d: want 5 time fields, a user and a command: %q", i+1, line)
		}
		entries++
		if _, err := config.ParseSchedule(strings.Join(f[:5], " "), time.Local); err != nil {
			t.Errorf("cron.txt:%d: schedule: %v", i+1, err)
		}
		calls := mailkeepCalls(strings.Join(f[6:], " "))
		if len(calls) == 0 {
			t.Errorf("cron.txt:%d: no mailkeep call in %q", i+1, line)
		}
		for _, args := range calls {
			cmds = append(cmds, checkCommandLine(t, "cron.txt:"+strconv.Itoa(i+1), cfg, args))
		}
	}
	if entries != 2 || strings.Join(cmds, ",") != "run,status,status" {
		t.Errorf("cron.txt has %d entries calling %v, want the nightly run and the morning status check", entries, cmds)
	}
}

func TestMailkeepCalls(t *testing.T) {
	got := mailkeepCalls(`set -a; . /etc/env; /bin/mailkeep -q run a --x 1 >/dev/null || /usr/bin/mailkeep status; echo /x/mailkeep b`)
	want := [][]string{{"-q", "run", "a", "--x", "1"}, {"status"}, {"b"}}
	if len(got) != len(want) {
		t.Fatalf("mailkeepCalls = %q, want %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], " ") != strings.Join(want[i], " ") {
			t.Errorf("call %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// k8sDocs decodes a multi-document YAML file.
func k8sDocs(t *testing.T, name string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, d)
	}
	return docs
}

// dig follows keys (string) and indexes (int) into decoded YAML.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// k8sConfig returns the mailkeep config of the ConfigMap in docs, parsed.
func k8sConfig(t *testing.T, docs []map[string]any, name string) *config.Config {
	t.Helper()
	for _, d := range docs {
		if d["kind"] == "ConfigMap" && dig(t, d, "metadata", "name") == name {
			text, _ := dig(t, d, "data", "mailkeep.yaml").(string)
			cfg, warnings, err := config.Parse([]byte(text), exampleConfigPath)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("ConfigMap %s: mailkeep.yaml: %v %v", name, err, warnings)
			}
			return cfg
		}
	}
	t.Fatalf("no ConfigMap %s", name)
	return nil
}

func kindOf(t *testing.T, docs []map[string]any, kind string) map[string]any {
	t.Helper()
	for _, d := range docs {
		if d["kind"] == kind {
			return d
		}
	}
	t.Fatalf("no %s", kind)
	return nil
}

func TestExampleKubernetesCronJob(t *testing.T) {
	docs := k8sDocs(t, "cronjob.yaml")
	cfg := k8sConfig(t, docs, "mailkeep-config")
	cj := kindOf(t, docs, "CronJob")
	if _, err := config.ParseSchedule(dig(t, cj, "spec", "schedule").(string), time.UTC); err != nil {
		t.Errorf("CronJob schedule: %v", err)
	}
	if tz := dig(t, cj, "spec", "timeZone").(string); tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			t.Errorf("CronJob timeZone: %v", err)
		}
	}
	if p := dig(t, cj, "spec", "concurrencyPolicy"); p != "Forbid" {
		t.Errorf("concurrencyPolicy = %v, want Forbid: two runs must not share the archive", p)
	}
	c := dig(t, cj, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0)
	if cmd := strs(dig(t, c, "command")); len(cmd) != 1 || cmd[0] != "mailkeep" {
		t.Errorf("command = %q", cmd)
	}
	checkCommandLine(t, "cronjob.yaml", cfg, strs(dig(t, c, "args")))
	checkMounts(t, c, cfg)
}

func TestExampleKubernetesIndexedJob(t *testing.T) {
	docs := k8sDocs(t, "indexed-job.yaml")
	cfg := k8sConfig(t, docs, "mailkeep-fleet")
	job := kindOf(t, docs, "Job")
	if m := dig(t, job, "spec", "completionMode"); m != "Indexed" {
		t.Fatalf("completionMode = %v", m)
	}
	n := dig(t, job, "spec", "completions").(int)
	c := dig(t, job, "spec", "template", "spec", "containers", 0)
	args := strs(dig(t, c, "args"))
	var shards []shard.Shard
	for i := range n {
		// Kubernetes expands $(VAR) in args from the container's env.
		var expanded []string
		for _, a := range args {
			expanded = append(expanded, strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", strconv.Itoa(i)))
		}
		checkCommandLine(t, "indexed-job.yaml", cfg, expanded)
		for k, a := range expanded {
			if a == "--shard" {
				s, err := shard.Parse(expanded[k+1])
				if err != nil || s.Count != n || s.Index != i {
					t.Fatalf("pod %d: --shard %s (%v), want %d/%d", i, expanded[k+1], err, i, n)
				}
				shards = append(shards, s)
			}
		}
	}
	if len(shards) != n {
		t.Fatalf("--shard in %d of %d pods", len(shards), n)
	}
	env := dig(t, c, "env", 0)
	if dig(t, env, "name") != "JOB_COMPLETION_INDEX" {
		t.Errorf("the index is not in the container's env (args and subPathExpr need it)")
	}
	// Every account of the job in exactly one pod.
	for _, name := range cfg.Jobs["fleet"].Backup {
		in := 0
		for _, s := range shards {
			if s.Has(name) {
				in++
			}
		}
		if in != 1 {
			t.Errorf("account %s is in %d shards", name, in)
		}
	}
	// Each shard writes its own archive.
	found := false
	for _, m := range dig(t, c, "volumeMounts").([]any) {
		mm := m.(map[string]any)
		if mm["mountPath"] == filepath.Dir(cfg.Archive) {
			found = mm["subPathExpr"] == "shard-$(JOB_COMPLETION_INDEX)"
		}
	}
	if !found {
		t.Errorf("the archive directory %s is not mounted per shard (subPathExpr)", filepath.Dir(cfg.Archive))
	}
	checkMounts(t, c, cfg)
}

// checkMounts: the config file and the archive are where the container
// mounts them.
func checkMounts(t *testing.T, c any, cfg *config.Config) {
	t.Helper()
	var paths []string
	for _, m := range dig(t, c, "volumeMounts").([]any) {
		paths = append(paths, m.(map[string]any)["mountPath"].(string))
	}
	has := func(p string) bool {
		for _, mp := range paths {
			if p == mp || strings.HasPrefix(p, mp+"/") {
				return true
			}
		}
		return false
	}
	if !has(exampleConfigPath) {
		t.Errorf("%s is not mounted (mounts %v)", exampleConfigPath, paths)
	}
	if !has(cfg.Archive) {
		t.Errorf("the archive %s is not on a volume (mounts %v)", cfg.Archive, paths)
	}
}
