package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/internal/shard"
)

// parseExampleArgs parses a command line from examples/ as mailkeep would,
// without running it, and returns the command's name and flags' values.
func parseExampleArgs(t *testing.T, where string, args []string) (string, func(string) string) {
	t.Helper()
	root := newRoot(&globals{stdout: io.Discard, stderr: io.Discard})
	c, rest, err := root.Find(args)
	if err != nil || c == root {
		t.Fatalf("%s: %q: no mailkeep command (%v)", where, args, err)
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Fatalf("%s: %q: %v", where, args, err)
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		t.Fatalf("%s: %q: %v", where, args, err)
	}
	return c.Name(), func(name string) string {
		f := c.Flags().Lookup(name)
		if f == nil {
			return ""
		}
		return f.Value.String()
	}
}

func TestExampleOffsiteIndexedJob(t *testing.T) {
	docs := k8sDocs(t, "offsite-indexed-job.yaml")
	cfg := k8sConfig(t, docs, "mailkeep-offsite-fleet")
	if cfg.Offsite == nil || !cfg.Encryption.Enabled() || !cfg.Jobs["fleet"].Push {
		t.Fatalf("config: offsite %v, encryption %v, push %v", cfg.Offsite, cfg.Encryption, cfg.Jobs["fleet"])
	}
	job := kindOf(t, docs, "Job")
	spec := dig(t, job, "spec", "template", "spec")
	n := dig(t, job, "spec", "completions").(int)
	init := dig(t, spec, "initContainers", 0)
	main := dig(t, spec, "containers", 0)
	for i := range n {
		expand := func(args []string) []string {
			var out []string
			for _, a := range args {
				out = append(out, strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", strconv.Itoa(i)))
			}
			return out
		}
		name, flag := parseExampleArgs(t, "initContainer", expand(strs(dig(t, init, "args"))))
		if name != "pull" || flag("index-only") != "true" || flag("missing-ok") != "true" || flag("into") != cfg.Archive || flag("config") != exampleConfigPath {
			t.Fatalf("initContainer runs %s --into %s (index-only %s, missing-ok %s), want pull --index-only --missing-ok into %s",
				name, flag("into"), flag("index-only"), flag("missing-ok"), cfg.Archive)
		}
		name, flag = parseExampleArgs(t, "container", expand(strs(dig(t, main, "args"))))
		s, err := shard.Parse(flag("shard"))
		if name != "run" || err != nil || s.Index != i || s.Count != n {
			t.Fatalf("pod %d runs %s --shard %s (%v)", i, name, flag("shard"), err)
		}
		if _, err := selectJobs(cfg, []string{"fleet"}, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []any{init, main} {
		env := map[string]string{}
		for _, e := range dig(t, c, "env").([]any) {
			m := e.(map[string]any)
			v, _ := m["value"].(string)
			env[m["name"].(string)] = v
		}
		if !strings.Contains(env["MAILKEEP_OFFSITE_PREFIX"], "$(JOB_COMPLETION_INDEX)") {
			t.Errorf("MAILKEEP_OFFSITE_PREFIX = %q: each shard needs its own prefix", env["MAILKEEP_OFFSITE_PREFIX"])
		}
		for _, k := range []string{cfg.Offsite.S3.AccessKeyEnv, cfg.Offsite.S3.SecretKeyEnv} {
			if _, ok := env[k]; !ok {
				t.Errorf("container has no %s", k)
			}
		}
	}
	vols := map[string]map[string]any{}
	for _, v := range dig(t, spec, "volumes").([]any) {
		m := v.(map[string]any)
		vols[m["name"].(string)] = m
	}
	if _, ok := vols["work"]["emptyDir"]; !ok {
		t.Errorf("the archive volume is not an emptyDir: %v", vols["work"])
	}
}

func TestExampleSystemdPush(t *testing.T) {
	cfg := loadExample(t, "offsite.yaml")
	if cfg.Offsite == nil {
		t.Fatal("examples/offsite.yaml has no offsite")
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "systemd", "mailkeep-push.service"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if cmdline, ok := strings.CutPrefix(line, "ExecStart="); ok {
			n++
			words := strings.Fields(cmdline)
			if name, flag := parseExampleArgs(t, "mailkeep-push.service", words[1:]); name != "push" || flag("config") != exampleConfigPath {
				t.Errorf("mailkeep-push.service runs %s --config %s", name, flag("config"))
			}
		}
	}
	timer, err := os.ReadFile(filepath.Join("..", "..", "examples", "systemd", "mailkeep-push.timer"))
	if n != 1 || err != nil || !strings.Contains(string(timer), "\nOnCalendar=") || !strings.Contains(string(timer), "WantedBy=timers.target") {
		t.Errorf("mailkeep-push.service: %d ExecStart; timer: %v", n, err)
	}
}
