package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

// TestSearchShowAfterCleanup: search finds a cleaned-up message by subject
// and sender; show prints it decoded and --raw byte for byte; export and
// restore --id / --query bring back just that message.
func TestSearchShowAfterCleanup(t *testing.T) {
	e := newCleanupEnv(t, "")
	if code, _, stderr := runCLI("--config", e.config, "cleanup", "dora", "--older-than", "2y"); code != exitOK {
		t.Fatalf("cleanup = exit %d, %s", code, stderr)
	}
	// "note 11" is the oldest message: cleaned off the server.
	code, stdout, stderr := runCLI("--config", e.config, "--json", "search", `subject:"note 11"`, "from:a@example.org")
	if code != exitOK || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("search = exit %d, want one hit:\n%s%s", code, stdout, stderr)
	}
	var hit struct {
		ID      int64
		Account string
		Folder  string
		Subject string
	}
	if err := json.Unmarshal([]byte(stdout), &hit); err != nil || hit.Subject != "note 11" || hit.Account != "dora" || hit.Folder != "INBOX" || hit.ID == 0 {
		t.Fatalf("search --json = %q (%v)", stdout, err)
	}
	id := fmt.Sprint(hit.ID)
	// The table, newest first, fields whole when piped.
	code, stdout, _ = runCLI("--config", e.config, "search", "from:a@example.org")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitOK || len(lines) != 1+e.old+e.newer || !strings.HasPrefix(lines[0], "ID") ||
		!strings.Contains(lines[1], "note 0") || !strings.Contains(lines[len(lines)-1], "note 11") {
		t.Errorf("search from: = exit %d, want %d hits newest first:\n%s", code, e.old+e.newer, stdout)
	}
	if code, _, stderr := runCLI("--config", e.config, "search", "nothing-like-this"); code != exitFailed || !strings.Contains(stderr, "no archived message matches") {
		t.Errorf("search with no hit = exit %d, %q; want 1", code, stderr)
	}
	if code, _, stderr := runCLI("--config", e.config, "search", "subjct:x"); code != exitUsage || !strings.Contains(stderr, `unknown key "subjct:"`) {
		t.Errorf("search subjct:x = exit %d, %q; want 2 naming the key", code, stderr)
	}

	code, stdout, _ = runCLI("--config", e.config, "show", id)
	if code != exitOK || !strings.Contains(stdout, "Subject: note 11") || !strings.Contains(stdout, "body 11") || !strings.Contains(stdout, "off the server since") {
		t.Errorf("show %s = exit %d:\n%s", id, code, stdout)
	}
	code, stdout, _ = runCLI("--config", e.config, "show", id, "--raw")
	if code != exitOK || !e.raws[stdout] || !strings.Contains(stdout, "note 11") {
		t.Errorf("show --raw = exit %d, not the archived bytes: %q", code, stdout)
	}
	if code, _, stderr := runCLI("--config", e.config, "show", "999999"); code != exitFailed || !strings.Contains(stderr, "999999") {
		t.Errorf("show 999999 = exit %d, %q", code, stderr)
	}

	out := filepath.Join(t.TempDir(), "eml")
	code, stdout, stderr = runCLI("--config", e.config, "export", "--id", id, "--format", "eml", "--out", out)
	if code != exitOK || !strings.Contains(stdout, "exported 1 messages") {
		t.Errorf("export --id = exit %d:\n%s%s", code, stdout, stderr)
	}
	out = filepath.Join(t.TempDir(), "mbox")
	code, stdout, stderr = runCLI("--config", e.config, "export", "dora", "--query", "note", "--format", "mbox", "--out", out)
	if code != exitOK || !strings.Contains(stdout, fmt.Sprintf("exported %d messages", e.old+e.newer)) {
		t.Errorf("export --query = exit %d:\n%s%s", code, stdout, stderr)
	}

	// Into another account, then back into its own folder.
	code, stdout, stderr = runCLI("--config", e.config, "restore", "--id", id, "--to", "dora2")
	if got := e.srv.Messages("dora2", "INBOX"); code != exitOK || len(got) != 1 || !strings.Contains(string(got[0].Raw), "note 11") {
		t.Errorf("restore --id --to dora2 = exit %d, %d messages on dora2:\n%s%s", code, len(got), stdout, stderr)
	}
	before := len(e.srv.Messages("dora", "INBOX"))
	code, stdout, stderr = runCLI("--config", e.config, "restore", "--query", `subject:"note 11"`)
	after := e.srv.Messages("dora", "INBOX")
	found := false
	for _, m := range after {
		found = found || e.raws[string(m.Raw)] && strings.Contains(string(m.Raw), "note 11")
	}
	if code != exitOK || len(after) != before+1 || !found {
		t.Errorf("restore --query (back into dora) = exit %d, %d -> %d messages:\n%s%s", code, before, len(after), stdout, stderr)
	}
	// Run again: nothing twice.
	if code, _, _ := runCLI("--config", e.config, "restore", "--query", `subject:"note 11"`); code != exitOK || len(e.srv.Messages("dora", "INBOX")) != before+1 {
		t.Errorf("second restore --query = exit %d, %d messages", code, len(e.srv.Messages("dora", "INBOX")))
	}
}

// TestSearchBuildsIndexOnce: an archive whose index is missing (made
// before it existed) gets it built by the first search, and only once.
func TestSearchBuildsIndexOnce(t *testing.T) {
	e := newPOP3DeleteEnv(t)
	// The index is derived data in its own file (as after a pull).
	if err := os.Remove(filepath.Join(e.dir, "archive", "search.db")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("--config", e.config, "search", "post")
	if code != exitOK || !strings.Contains(stderr, "building the search index (5 messages, once)") || strings.Count(stdout, "post") != 5 {
		t.Errorf("first search = exit %d:\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("--config", e.config, "search", "subject:date")
	if code != exitOK || strings.Contains(stderr, "building") || !strings.Contains(stdout, "post 4 without a date") {
		t.Errorf("second search = exit %d:\n%s%s", code, stdout, stderr)
	}
	if st, err := os.Stat(filepath.Join(e.dir, "archive", "search.db")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("search.db: %v, %v; want mode 0600", st.Mode(), err)
	}
}

// TestSearchRightAfterBackup: backup stores without indexing the text. A
// backup of a few messages indexes them before it ends (the next search
// builds nothing); one of more than the writer indexes at its end
// (2,000) leaves them to the first search, which builds them with a
// progress line and then finds every message.
func TestSearchRightAfterBackup(t *testing.T) {
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("ivy", "pw")
	add := func(from, to int) {
		for i := from; i < to; i++ {
			raw := fmt.Sprintf("From: s%d@example.org\r\nSubject: item %d\r\nDate: Mon, 02 Mar 2020 10:00:00 +0000\r\n\r\nfreshword body %d\r\n", i, i, i)
			srv.AddMessage("ivy", []string{"INBOX", "Lists"}[i%2], []byte(raw), nil, time.Unix(1583143200, 0))
		}
	}
	_, port, _ := net.SplitHostPort(srv.Addr())
	dir := t.TempDir()
	config := filepath.Join(dir, "mailkeep.yaml")
	cfg := fmt.Sprintf("archive: %s\naccounts:\n  ivy:\n    imap: {host: 127.0.0.1, port: %s, security: none}\n    username: ivy\n    password: pw\n",
		filepath.Join(dir, "archive"), port)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	hits := func(want int, building bool) {
		t.Helper()
		code, stdout, stderr := runCLI("--config", config, "search", "--limit", "0", "freshword")
		if n := strings.Count(stdout, " item "); code != exitOK || n != want || strings.Contains(stderr, "building the search index") != building {
			t.Fatalf("search = exit %d, %d hits, want %d (building: %v):\n%s", code, n, want, building, stderr)
		}
	}
	add(0, 30)
	if code, _, stderr := runCLI("--config", config, "-q", "backup"); code != exitOK {
		t.Fatalf("backup = exit %d: %s", code, stderr)
	}
	hits(30, false)
	add(30, 2100)
	if code, _, stderr := runCLI("--config", config, "-q", "backup"); code != exitOK {
		t.Fatalf("backup = exit %d: %s", code, stderr)
	}
	hits(2100, true)
	hits(2100, false)
	code, stdout, _ := runCLI("--config", config, "search", `subject:"item 2099"`)
	if code != exitOK || !strings.Contains(stdout, "item 2099") {
		t.Errorf("search for the last message = exit %d:\n%s", code, stdout)
	}
}

// TestSearchUnlimitedStreams: search --limit 0 prints its hits as they
// come, a block of rows aligned at a time; every hit is there once, the
// header once, and --json is a line a hit.
func TestSearchUnlimitedStreams(t *testing.T) {
	e := newPOP3DeleteEnv(t)
	defer func(n int) { searchBlock = n }(searchBlock)
	searchBlock = 2
	code, stdout, stderr := runCLI("--config", e.config, "search", "--limit", "0", "post")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitOK || len(lines) != 6 || !strings.HasPrefix(lines[0], "ID ") || strings.Count(stdout, "ID ") != 1 {
		t.Fatalf("search --limit 0 = exit %d, want a header and 5 hits:\n%s%s", code, stdout, stderr)
	}
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		id := strings.Fields(l)[0]
		if seen[id] || !strings.Contains(l, "post") {
			t.Errorf("hit %q twice or not a hit", l)
		}
		seen[id] = true
	}
	code, stdout, _ = runCLI("--config", e.config, "--json", "search", "--limit", "0", "post")
	if code != exitOK || strings.Count(stdout, "\n") != 5 {
		t.Errorf("search --json --limit 0 = exit %d, want 5 lines:\n%s", code, stdout)
	}
	code, stdout, stderr = runCLI("--config", e.config, "search", "--limit", "2", "post")
	if code != exitOK || strings.Count(stdout, "\n") != 3 || !strings.Contains(stderr, "the first 2; --limit 0 shows all") {
		t.Errorf("search --limit 2 = exit %d:\n%s%s", code, stdout, stderr)
	}
}
