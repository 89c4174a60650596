package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

// cleanupEnv is an in-process IMAP server with old and new mail, and a
// config file for it.
type cleanupEnv struct {
	srv    *imapsrv.Server
	config string
	old    int // messages in INBOX older than two years
	newer  int
	raws   map[string]bool
}

func newCleanupEnv(t *testing.T, jobs string) *cleanupEnv {
	t.Helper()
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser("dora", "pw")
	srv.AddUser("dora2", "pw")
	e := &cleanupEnv{srv: srv, raws: map[string]bool{}}
	now := time.Now().UTC()
	for i := 0; i < 12; i++ {
		date := now.AddDate(0, -6*i, -3)
		raw := fmt.Sprintf("From: a@example.org\r\nSubject: note %d\r\nDate: %s\r\n\r\nbody %d\r\n", i, date.Format(time.RFC1123Z), i)
		srv.AddMessage("dora", "INBOX", []byte(raw), []string{`\Seen`}, date)
		e.raws[raw] = true
		if date.Before(now.AddDate(-2, 0, -1)) {
			e.old++
		} else {
			e.newer++
		}
	}
	_, port, _ := net.SplitHostPort(srv.Addr())
	dir := t.TempDir()
	e.config = filepath.Join(dir, "mailkeep.yaml")
	cfg := fmt.Sprintf(`archive: %s
accounts:
  dora:
    imap: {host: 127.0.0.1, port: %s, security: none}
    username: dora
    password_env: DORA_PW
  dora2:
    imap: {host: 127.0.0.1, port: %s, security: none}
    username: dora2
    password_env: DORA_PW
%s`, filepath.Join(dir, "archive"), port, port, jobs)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DORA_PW", "pw")
	return e
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCleanupCLIBadInput(t *testing.T) {
	e := newCleanupEnv(t, "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"BadAge", []string{"--older-than", "90x"}, `--older-than: age "90x": unknown unit "x"`},
		{"AgeWithSpace", []string{"--older-than", "2 y"}, "write the number and the unit together"},
		{"ZeroAge", []string{"--older-than", "0d"}, "must be more than 0"},
		{"BadDate", []string{"--before", "2024-13-01"}, `--before: "2024-13-01": want a date like 2024-12-31`},
		{"FutureDate", []string{"--before", "2999-01-01"}, "in the future"},
		{"BadSize", []string{"--larger-than", "lots"}, `--larger-than: size "lots"`},
		{"NoCriteria", nil, "cleanup needs --older-than AGE, --before DATE or --larger-than SIZE"},
		{"BadBy", []string{"--older-than", "2y", "--by", "arrival"}, `--by "arrival": want internaldate or date-header`},
		{"DateHeaderNeedsDate", []string{"--larger-than", "1MB", "--by", "date-header"}, "--by date-header needs"},
		{"UnknownFlag", []string{"--older-than", "2y", "--olderthan", "2y"}, "unknown flag: --olderthan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--config", e.config, "cleanup", "dora"}, tc.args...)
			code, _, stderr := runCLI(args...)
			if code != exitUsage || !strings.Contains(stderr, "mailkeep: error: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("mailkeep %s = exit %d, stderr %q; want exit 2 and %q", strings.Join(args, " "), code, stderr, tc.want)
			}
		})
	}
	code, _, stderr := runCLI("--config", e.config, "cleanup", "nobody", "--older-than", "2y")
	if code != exitUsage || !strings.Contains(stderr, `no account "nobody"`) {
		t.Errorf("unknown account = exit %d, %q", code, stderr)
	}
	if n := len(e.srv.Messages("dora", "INBOX")); n != e.old+e.newer {
		t.Errorf("bad input deleted mail: %d messages left of %d", n, e.old+e.newer)
	}
}

func TestCleanupCLI(t *testing.T) {
	e := newCleanupEnv(t, "")
	// A pattern that matches nothing: exit 2, the pattern named, nothing touched.
	code, _, stderr := runCLI("--config", e.config, "cleanup", "dora", "--older-than", "2y", "--exclude", "Junk")
	if code != exitUsage || !strings.Contains(stderr, `exclude pattern "Junk" matches no folder`) || !strings.Contains(stderr, "mailkeep: hint:") {
		t.Errorf("exclude Junk = exit %d, %q; want 2 naming the pattern", code, stderr)
	}

	code, stdout, stderr := runCLI("--config", e.config, "cleanup", "dora", "--older-than", "2y", "--dry-run")
	if code != exitOK {
		t.Fatalf("dry run = exit %d, stderr %q", code, stderr)
	}
	if got := strings.Count(stdout, "INBOX  "); got < e.old || !strings.Contains(stdout, "WOULD DELETE") ||
		!strings.Contains(stdout, "note 11") || strings.Contains(stdout, "note 0 ") {
		t.Errorf("dry run output lists %d lines for %d old messages:\n%s", got, e.old, stdout)
	}
	if n := len(e.srv.Messages("dora", "INBOX")); n != e.old+e.newer {
		t.Fatalf("dry run deleted mail: %d left of %d", n, e.old+e.newer)
	}

	code, stdout, stderr = runCLI("--config", e.config, "cleanup", "dora", "--older-than", "2y")
	if code != exitOK {
		t.Fatalf("cleanup = exit %d, stderr %q", code, stderr)
	}
	if !hasLine(stdout, "total", fmt.Sprint(e.old), fmt.Sprint(e.old)) || !strings.Contains(stdout, "no QUOTA capability") {
		t.Errorf("summary:\n%s", stdout)
	}
	if n := len(e.srv.Messages("dora", "INBOX")); n != e.newer {
		t.Errorf("after cleanup %d messages on the server, want %d", n, e.newer)
	}
	// ls --gone shows what cleanup took off the server.
	code, stdout, _ = runCLI("--config", e.config, "ls", "dora", "INBOX", "--gone")
	if code != exitOK || strings.Count(stdout, "(cleanup)") != e.old {
		t.Errorf("ls --gone = exit %d, %d marked (cleanup), want %d:\n%s", code, strings.Count(stdout, "(cleanup)"), e.old, stdout)
	}
	// Restore brings what cleanup removed back, byte for byte.
	code, stdout, stderr = runCLI("--config", e.config, "restore", "dora", "--to", "dora2", "--include-deleted")
	if code != exitOK {
		t.Fatalf("restore --include-deleted = exit %d, %s\n%s", code, stdout, stderr)
	}
	got := map[string]bool{}
	for _, m := range e.srv.Messages("dora2", "INBOX") {
		got[string(m.Raw)] = true
	}
	if len(got) != len(e.raws) {
		t.Errorf("restore --include-deleted: %d messages on the target, want %d", len(got), len(e.raws))
	}
	for raw := range e.raws {
		if !got[raw] {
			t.Errorf("restore --include-deleted did not bring back %q", raw[:40])
		}
	}
	code, stdout, _ = runCLI("--config", e.config, "--json", "cleanup", "dora", "--older-than", "2y")
	if code != exitOK || !strings.Contains(stdout, `"event":"summary"`) || !strings.Contains(stdout, `"deleted":0`) {
		t.Errorf("second run --json = exit %d:\n%s", code, stdout)
	}
}

// TestCleanupJobArgs runs a config cleanup job's command line as the job
// runner builds it (jobArgs), in process.
func TestCleanupJobArgs(t *testing.T) {
	e := newCleanupEnv(t, `jobs:
  trim:
    timezone: UTC
    cleanup: {account: dora, older_than: 2y, folders: [INBOX], by: internaldate}
`)
	cfg, _, err := config.Load(e.config)
	if err != nil {
		t.Fatal(err)
	}
	args := jobArgs(e.config, cfg.Jobs["trim"], nil)
	code, _, stderr := runCLI(args...)
	if code != exitOK {
		t.Fatalf("mailkeep %s = exit %d, stderr %q", strings.Join(args, " "), code, stderr)
	}
	if n := len(e.srv.Messages("dora", "INBOX")); n != e.newer {
		t.Errorf("after the job %d messages on the server, want %d", n, e.newer)
	}
}

// hasLine reports whether some line of out has these fields first.
func hasLine(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= len(fields) && strings.Join(f[:len(fields)], " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
