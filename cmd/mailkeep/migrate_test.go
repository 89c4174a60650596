package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// migrateEnv: an in-process server with a source user full of sample mail
// and an empty target user, a second server that refuses big messages,
// and a config for all three accounts.
func migrateEnv(t *testing.T) (src, tiny *imapsrv.Server, cfgPath string) {
	t.Helper()
	src = imapsrv.New(nil)
	tiny = imapsrv.New(&imapsrv.Options{AppendLimit: 2000})
	for _, s := range []*imapsrv.Server{src, tiny} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	src.AddUser("old", "pw")
	src.AddUser("new", "pw")
	tiny.AddUser("tiny", "pw")
	src.AddMailbox("old", "Sent Items", imap.MailboxAttrSent)
	src.AddMailbox("new", "Sent", imap.MailboxAttrSent)
	for _, m := range sample.Generate(30, 3) {
		folder := m.Folder
		if folder == "Sent" {
			folder = "Sent Items"
		}
		src.AddMessage("old", folder, m.Raw, m.Flags, m.Date)
	}
	_, port, _ := net.SplitHostPort(src.Addr())
	_, tport, _ := net.SplitHostPort(tiny.Addr())
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "mailkeep.yaml")
	cfg := fmt.Sprintf(`archive: %s
accounts:
  old:
    imap: {host: 127.0.0.1, port: %s, security: none}
    username: old
    password_env: MK_PW
  new:
    imap: {host: 127.0.0.1, port: %s, security: none}
    username: new
    password_env: MK_PW
    folder_map:
      "Archive/*": "Old/Archive/*"
  tiny:
    imap: {host: 127.0.0.1, port: %s, security: none}
    username: tiny
    password_env: MK_PW
`, filepath.Join(dir, "archive"), port, port, tport)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MK_PW", "pw")
	return src, tiny, cfgPath
}

func TestMigrateRestoreCLIBadInput(t *testing.T) {
	_, _, cfg := migrateEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", "old"}, "--to TARGET is required"},
		{[]string{"restore", "old", "--to", "nobody"}, `no account "nobody"`},
		{[]string{"restore", "old", "--to", "new", "--as-of", "yesterday"}, `--as-of "yesterday": want YYYY-MM-DD`},
		{[]string{"restore", "old", "--to", "new", "--as-of", "2024-01-01", "--include-deleted"}, "do not go together"},
		{[]string{"restore", "old", "--to", "new", "--folder", ""}, "take a folder name or pattern"},
		{[]string{"restore", "ghost", "--to", "new"}, `archive has no account "ghost"`},
		{[]string{"migrate", "old", "old"}, "FROM and TO are the same account"},
		{[]string{"migrate", "old"}, "accepts 2 arg(s)"},
		{[]string{"migrate", "old", "nobody"}, `no account "nobody"`},
	} {
		code, _, stderr := runCLI(append([]string{"--config", cfg}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, "mailkeep: error: ") || !strings.Contains(stderr, tc.want) {
			t.Errorf("mailkeep %s = exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}

func TestMigrateRestoreCLI(t *testing.T) {
	src, tiny, cfg := migrateEnv(t)
	total := 0
	for _, mb := range src.Mailboxes("old") {
		total += len(src.Messages("old", mb.Name))
	}

	code, stdout, stderr := runCLI("--config", cfg, "migrate", "old", "new", "--dry-run")
	if code != exitOK || !strings.Contains(stdout, "dry run: nothing written") || !strings.Contains(stdout, "WOULD COPY") ||
		!strings.Contains(stdout, "Sent Items -> Sent (special-use)") || !strings.Contains(stdout, "Archive/2019 -> Old/Archive/2019 (folder_map, new)") {
		t.Fatalf("migrate --dry-run = exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(src.Messages("new", "INBOX")); n != 0 {
		t.Fatalf("dry run copied %d messages", n)
	}

	code, stdout, stderr = runCLI("--config", cfg, "migrate", "old", "new")
	if code != exitOK || !regexp.MustCompile(fmt.Sprintf(`total +%d +%d +%d +0 +0 +0`, total, total, total)).MatchString(stdout) {
		t.Fatalf("migrate = exit %d\n%s\n%s", code, stdout, stderr)
	}
	got := 0
	for _, mb := range src.Mailboxes("new") {
		got += len(src.Messages("new", mb.Name))
	}
	if got != total || len(src.Messages("new", "Old/Archive/2019")) == 0 {
		t.Fatalf("target holds %d messages (want %d), Old/Archive/2019 %d", got, total, len(src.Messages("new", "Old/Archive/2019")))
	}

	summary := func(out string) map[string]any {
		for _, l := range strings.Split(out, "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["event"] == "summary" {
				return m
			}
		}
		t.Fatalf("no summary in %q", out)
		return nil
	}
	code, stdout, _ = runCLI("--config", cfg, "--json", "migrate", "old", "new")
	if s := summary(stdout); code != exitOK || s["copied"] != 0.0 || s["on_target"] != float64(total) || s["ok"] != true {
		t.Errorf("re-run = exit %d, summary %v", code, s)
	}
	code, stdout, _ = runCLI("--config", cfg, "--json", "restore", "old", "--to", "new")
	if s := summary(stdout); code != exitOK || s["copied"] != 0.0 || s["kind"] != "restore" {
		t.Errorf("restore into the migrated account = exit %d, summary %v", code, s)
	}

	// A target that refuses big messages: the rest is copied, the refused
	// ones are named, exit 3; a re-run copies nothing twice.
	code, stdout, stderr = runCLI("--config", cfg, "restore", "old", "--to", "tiny")
	if code != exitPartial || !strings.Contains(stdout, "skipped: ") || !strings.Contains(stdout, "APPENDLIMIT") ||
		!strings.Contains(stderr, "source messages are not on tiny") {
		t.Fatalf("restore into tiny = exit %d\n%s\n%s", code, stdout, stderr)
	}
	small := 0
	for _, mb := range tiny.Mailboxes("tiny") {
		small += len(tiny.Messages("tiny", mb.Name))
	}
	if small == 0 || small == total {
		t.Fatalf("tiny holds %d of %d messages", small, total)
	}
	code, stdout, _ = runCLI("--config", cfg, "--json", "restore", "old", "--to", "tiny")
	if s := summary(stdout); code != exitPartial || s["copied"] != 0.0 || s["on_target"] != float64(small) {
		t.Errorf("re-run into tiny = exit %d, summary %v", code, s)
	}
}
