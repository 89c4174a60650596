package metrics

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	var s Set
	s.Gauge("mk_last_success_timestamp_seconds", "Unix time of the last success.", 1700000000, "account", "work", "job", "nightly")
	s.Counter("mk_runs_total", "Runs.\nWith a \\ in help.", 3, "account", "we\"ird\\na\nme", "result", "ok")
	s.Gauge("mk_last_success_timestamp_seconds", "ignored second help", 0.5, "account", "isp", "job", "")
	s.Gauge("mk_nan", "", math.NaN())
	s.Gauge("mk_inf", "", math.Inf(1))
	s.Gauge("mk_big", "", 1e20)
	var b strings.Builder
	if err := Write(&b, &s); err != nil {
		t.Fatal(err)
	}
	want := `# HELP mk_last_success_timestamp_seconds Unix time of the last success.
# TYPE mk_last_success_timestamp_seconds gauge
mk_last_success_timestamp_seconds{account="work",job="nightly"} 1700000000
mk_last_success_timestamp_seconds{account="isp",job=""} 0.5
# HELP mk_runs_total Runs.\nWith a \\ in help.
# TYPE mk_runs_total counter
mk_runs_total{account="we\"ird\\na\nme",result="ok"} 3
# TYPE mk_nan gauge
mk_nan NaN
# TYPE mk_inf gauge
mk_inf +Inf
# TYPE mk_big gauge
mk_big 1e+20
`
	if b.String() != want {
		t.Errorf("Write() =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteRejectsBadNames(t *testing.T) {
	for _, tc := range []struct {
		name, label string
	}{{"1bad", "a"}, {"ok_name", "bad-label"}, {"ok_name", "__reserved"}, {"has space", "a"}} {
		var s Set
		s.Gauge(tc.name, "", 1, tc.label, "v")
		if err := Write(&strings.Builder{}, &s); err == nil {
			t.Errorf("Write(name %q, label %q) = nil, want an error", tc.name, tc.label)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mailkeep.prom")
	var s Set
	s.Gauge("mk_up", "Up.", 1)
	if err := WriteFile(path, &s); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# HELP mk_up Up.\n# TYPE mk_up gauge\nmk_up 1\n"; string(got) != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644 (node_exporter must read it)", fi.Mode().Perm())
	}
	// Overwrite; then a failing write must leave the old file and no temp files.
	s.Gauge("mk_up", "", 2)
	if err := WriteFile(path, &s); err != nil {
		t.Fatal(err)
	}
	var bad Set
	bad.Gauge("bad name", "", 1)
	if err := WriteFile(path, &bad); err == nil {
		t.Fatal("WriteFile(bad) = nil, want an error")
	}
	got, _ = os.ReadFile(path)
	if !strings.Contains(string(got), "mk_up 2\n") {
		t.Errorf("after a failed write the file is %q, want the previous contents", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only mailkeep.prom", names)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x.prom"), &s); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("WriteFile into a missing directory = %v, want an error naming it", err)
	}
}
