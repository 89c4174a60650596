package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

// pop3DeleteEnv is a POP3 account with delete: true, all of whose mail
// mailkeep has taken off the server, and a config file for it.
type pop3DeleteEnv struct {
	srv    *pop3srv.Server
	config string
	raws   []string
	dir    string
}

func newPOP3DeleteEnv(t *testing.T) *pop3DeleteEnv {
	t.Helper()
	srv, err := pop3srv.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser("bob", "pw-bob")
	e := &pop3DeleteEnv{srv: srv, dir: t.TempDir()}
	for i := range 5 {
		date := time.Date(2019+i, 3, 4, 5, 6, 7, 0, time.FixedZone("", -5*3600))
		raw := fmt.Sprintf("From: Carol <carol@example.org>\r\nSubject: post %d\r\nDate: %s\r\n\r\nbody %d\r\n", i, date.Format(time.RFC1123Z), i)
		if i == 4 {
			raw = "From: nodate@example.org\r\nSubject: post 4 without a date\r\n\r\nbody 4\r\n"
		}
		srv.AddMessage("bob", fmt.Sprintf("u%d", i), []byte(raw))
		e.raws = append(e.raws, raw)
	}
	_, port, _ := net.SplitHostPort(srv.Addr())
	e.config = filepath.Join(e.dir, "mailkeep.yaml")
	cfg := fmt.Sprintf(`archive: %s
accounts:
  bob:
    pop3: {host: 127.0.0.1, port: %s, security: none}
    username: bob
    password_env: BOB_PW
    delete: true
`, filepath.Join(e.dir, "archive"), port)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BOB_PW", "pw-bob")
	code, stdout, stderr := runCLI("--config", e.config, "backup", "bob")
	if code != exitOK || len(srv.Maildrop("bob")) != 0 {
		t.Fatalf("backup = exit %d, %d left on the server\n%s%s", code, len(srv.Maildrop("bob")), stdout, stderr)
	}
	return e
}

// TestPOP3DeletedIsArchived: mail a POP3 delete: true account took off the
// server is listed, counted, dated and exported with no flags.
func TestPOP3DeletedIsArchived(t *testing.T) {
	e := newPOP3DeleteEnv(t)
	code, stdout, stderr := runCLI("--config", e.config, "ls", "bob")
	if code != exitOK || !hasLine(stdout, "5", "5", "0") || !strings.Contains(stdout, "OFF SERVER") {
		t.Errorf("ls bob = exit %d, want 5 messages, 5 off server, 0 deleted:\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("--config", e.config, "--json", "ls", "bob")
	if code != exitOK || !strings.Contains(stdout, `"messages":5`) || !strings.Contains(stdout, `"off_server":5`) || !strings.Contains(stdout, `"deleted":0`) {
		t.Errorf("ls --json bob = exit %d:\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("--config", e.config, "ls", "bob", "INBOX")
	if code != exitOK || strings.Count(stdout, "off server since") != 5 {
		t.Errorf("ls bob INBOX = exit %d, want 5 messages marked off server:\n%s%s", code, stdout, stderr)
	}
	// The Date header is the date; without one, the day it was archived.
	for i, want := range []string{"2019-03-04 05:06", "2020-03-04 05:06", "2021-03-04 05:06", "2022-03-04 05:06", time.Now().UTC().Format("2006-01-02")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("ls bob INBOX: no date %s (message %d):\n%s", want, i, stdout)
		}
	}
	if strings.Contains(stdout, "0001-01-01") {
		t.Errorf("ls bob INBOX shows a zero date:\n%s", stdout)
	}

	out := filepath.Join(e.dir, "mbox")
	code, stdout, stderr = runCLI("--config", e.config, "export", "bob", "--format", "mbox", "--out", out)
	if code != exitOK || !strings.Contains(stdout, "exported 5 messages") {
		t.Errorf("export = exit %d, want 5 messages:\n%s%s", code, stdout, stderr)
	}
	// --since and --before use the Date header of POP3 mail.
	out = filepath.Join(e.dir, "eml")
	code, stdout, stderr = runCLI("--config", e.config, "export", "bob", "--format", "eml", "--out", out,
		"--since", "2020-01-01", "--before", "2022-06-01")
	if code != exitOK || !strings.Contains(stdout, "exported 3 messages") {
		t.Errorf("export --since 2020-01-01 --before 2022-06-01 = exit %d, want 3 messages:\n%s%s", code, stdout, stderr)
	}
}

// TestCleanedIsArchived: mail cleanup took off the server is counted by
// ls, listed, exported and restored without --include-deleted; mail the
// user deleted on the server is not.
func TestCleanedIsArchived(t *testing.T) {
	e := newCleanupEnv(t, "")
	code, _, stderr := runCLI("--config", e.config, "cleanup", "dora", "--older-than", "2y")
	if code != exitOK || len(e.srv.Messages("dora", "INBOX")) != e.newer {
		t.Fatalf("cleanup = exit %d, stderr %q", code, stderr)
	}
	// The user deletes one of the newer messages on the server.
	msgs := e.srv.Messages("dora", "INBOX")
	e.srv.Expunge("dora", "INBOX", msgs[0].UID)
	if code, stdout, stderr := runCLI("--config", e.config, "backup", "dora"); code != exitOK {
		t.Fatalf("backup = exit %d\n%s%s", code, stdout, stderr)
	}
	total := e.old + e.newer - 1
	code, stdout, _ := runCLI("--config", e.config, "ls", "dora")
	if code != exitOK || !hasLine(stdout, fmt.Sprint(total), fmt.Sprint(e.old), "1") {
		t.Errorf("ls dora = exit %d, want %d messages, %d off server, 1 deleted:\n%s", code, total, e.old, stdout)
	}
	code, stdout, _ = runCLI("--config", e.config, "ls", "dora", "INBOX")
	if code != exitOK || strings.Count(stdout, "(cleanup)") != e.old || strings.Contains(stdout, "(expunged)") {
		t.Errorf("ls dora INBOX = exit %d, want %d (cleanup) and no (expunged):\n%s", code, e.old, stdout)
	}
	out := filepath.Join(t.TempDir(), "md")
	code, stdout, _ = runCLI("--config", e.config, "export", "dora", "--format", "maildir", "--out", out)
	if code != exitOK || !strings.Contains(stdout, fmt.Sprintf("exported %d messages", total)) {
		t.Errorf("export = exit %d, want %d messages:\n%s", code, total, stdout)
	}
	out = filepath.Join(t.TempDir(), "md")
	code, stdout, _ = runCLI("--config", e.config, "export", "dora", "--format", "maildir", "--out", out, "--include-deleted")
	if code != exitOK || !strings.Contains(stdout, fmt.Sprintf("exported %d messages", total+1)) {
		t.Errorf("export --include-deleted = exit %d, want %d messages:\n%s", code, total+1, stdout)
	}
	code, stdout, stderr = runCLI("--config", e.config, "restore", "dora", "--to", "dora2")
	if code != exitOK {
		t.Fatalf("restore = exit %d, %s\n%s", code, stdout, stderr)
	}
	got := map[string]bool{}
	for _, m := range e.srv.Messages("dora2", "INBOX") {
		got[string(m.Raw)] = true
	}
	if len(got) != total || got[string(msgs[0].Raw)] {
		t.Errorf("restore: %d messages on the target, want %d without the one deleted on the server", len(got), total)
	}
}

// TestCleanedFolderGoneIsArchived: a folder cleaned up and then deleted
// on the server still holds archived mail: restore brings the folder and
// that mail back without --include-deleted, and export writes it.
func TestCleanedFolderGoneIsArchived(t *testing.T) {
	e := newCleanupEnv(t, "")
	e.srv.AddMailbox("dora", "Old")
	old := time.Now().AddDate(-5, 0, 0)
	var raws []string
	for i := range 3 {
		raw := fmt.Sprintf("From: a@example.org\r\nSubject: old folder %d\r\nDate: %s\r\n\r\nold %d\r\n", i, old.Format(time.RFC1123Z), i)
		e.srv.AddMessage("dora", "Old", []byte(raw), nil, old)
		raws = append(raws, raw)
	}
	if code, _, stderr := runCLI("--config", e.config, "cleanup", "dora", "--older-than", "2y"); code != exitOK {
		t.Fatalf("cleanup = exit %d, %s", code, stderr)
	}
	if err := e.srv.DeleteMailbox("dora", "Old"); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI("--config", e.config, "backup", "dora"); code != exitOK {
		t.Fatalf("backup = exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr := runCLI("--config", e.config, "restore", "dora", "--to", "dora2", "--folder", "Old")
	got := e.srv.Messages("dora2", "Old")
	if code != exitOK || len(got) != len(raws) {
		t.Fatalf("restore of the gone folder = exit %d, %d messages, want %d\n%s%s", code, len(got), len(raws), stdout, stderr)
	}
	out := filepath.Join(t.TempDir(), "eml")
	code, stdout, _ = runCLI("--config", e.config, "export", "dora", "--folder", "Old", "--format", "eml", "--out", out)
	if code != exitOK || !strings.Contains(stdout, fmt.Sprintf("exported %d messages", len(raws))) {
		t.Errorf("export of the gone folder = exit %d:\n%s", code, stdout)
	}
}
