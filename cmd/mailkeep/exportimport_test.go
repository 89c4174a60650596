package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportImportExitCodes: the documented exit codes of export and
// import (0 done, 1 failed, 2 usage, 3 partly done), without a config
// file (--archive).
func TestExportImportExitCodes(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "arch")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.mbox", "From a@x Mon Mar  4 05:06:07 2019\nSubject: a\n\nx\n\nFrom b@x Mon Mar  4 05:06:07 2019\nSubject: b\n\ny\n\n")
	cut := write("cut.mbox", "From a@x Mon Mar  4 05:06:07 2019\nSubject: a\n\nx\n\nFrom b@x Mon Mar  4 05:06:07 2019\nSubject: b\n\nhal")
	junk := write("junk/readme.txt", "nothing")
	full := write("full/x", "")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"import", []string{"import", "a", "--from", good}, exitOK, "imported 2 new", ""},
		{"import again", []string{"import", "a", "--from", good}, exitOK, "imported before 2", ""},
		{"import dry run", []string{"import", "b", "--from", good, "--dry-run"}, exitOK, "would import 0 new, already archived 2", ""},
		{"import truncated", []string{"import", "c", "--from", cut}, exitPartial, "PARTLY DONE", "cut.mbox line 9: message from line 6"},
		{"import nothing", []string{"import", "d", "--from", filepath.Dir(junk)}, exitFailed, "FAILED", "no mailboxes found"},
		{"import no --from", []string{"import", "d"}, exitUsage, "", "--from PATH is required"},
		{"import bad format", []string{"import", "d", "--from", good, "--format", "pst"}, exitUsage, "", `unknown format "pst"`},
		{"import two accounts", []string{"import", "d", "e", "--from", good}, exitUsage, "", "accepts 1 arg"},
		{"export", []string{"export", "a", "--format", "mbox", "--out", filepath.Join(dir, "o1")}, exitOK, "exported 2 messages", ""},
		{"export non-empty", []string{"export", "a", "--format", "mbox", "--out", filepath.Dir(full)}, exitFailed, "FAILED", "--force"},
		{"export forced", []string{"export", "a", "--format", "eml", "--out", filepath.Dir(full), "--force"}, exitOK, "exported 2", ""},
		{"export no account", []string{"export", "zz", "--format", "mbox", "--out", filepath.Join(dir, "o2")}, exitUsage, "", `no account "zz"`},
		{"export no format", []string{"export", "a", "--out", filepath.Join(dir, "o3")}, exitUsage, "", "--format is required"},
		{"export bad date", []string{"export", "a", "--format", "eml", "--out", filepath.Join(dir, "o3"), "--before", "2019-13-01"}, exitUsage, "", "--before"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append(tc.args, "--archive", arch), &out, &errb)
			if code != tc.code {
				t.Errorf("mailkeep %s = exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout = %q, want it to contain %q", out.String(), tc.stdout)
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", errb.String(), tc.stderr)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run([]string{"--json", "export", "a", "--format", "maildir", "--out", filepath.Join(dir, "oj"), "--archive", arch}, &out, &errb)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		var last map[string]any
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if err := json.Unmarshal([]byte(line), &last); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
		}
		if last["event"] != "summary" || last["exported"] != float64(2) || last["ok"] != true || last["format"] != "maildir" {
			t.Errorf("last JSON line = %v, want the summary", last)
		}
	})
}
