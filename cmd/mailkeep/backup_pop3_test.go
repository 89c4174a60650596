package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

// TestBackupPOP3Config: the account's keys reach the backup: delete,
// delete_after, the server address, the password source; a wrong
// password fails the account.
func TestBackupPOP3Config(t *testing.T) {
	srv, err := pop3srv.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Addr())
	for _, u := range []string{"now", "later", "keep"} {
		srv.AddUser(u, "pw-"+u)
		for i := range 3 {
			srv.AddMessage(u, fmt.Sprintf("%s-%d", u, i), []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %s\r\n", i, u)))
		}
	}
	dir := t.TempDir()
	t.Setenv("MK_POP3_PW", "pw-now")
	t.Setenv("MK_POP3_PW_LATER", "pw-later")
	t.Setenv("MK_POP3_WRONG", "nope")
	cfgText := fmt.Sprintf(`archive: %s
accounts:
  now:
    pop3: {host: 127.0.0.1, port: %s, security: none, timeout: 5s}
    username: now
    password_env: MK_POP3_PW
    delete: true
  later:
    pop3: {host: 127.0.0.1, port: %s, security: none}
    username: later
    password_env: MK_POP3_PW_LATER
    delete_after: 30d
  keep:
    pop3: {host: 127.0.0.1, port: %s, security: none}
    username: keep
    password_env: MK_POP3_WRONG
`, filepath.Join(dir, "archive"), port, port, port)
	path := filepath.Join(dir, "mailkeep.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := archive.Open(context.Background(), cfg.Archive, &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb}
	results := map[string]*backup.Result{}
	for _, name := range []string{"now", "later", "keep"} {
		results[name] = g.env(cfg, nil).BackupAccount(context.Background(), repo, cfg.Accounts[name], false)
	}
	if r := results["now"]; !r.OK() || r.New != 3 || r.Deleted != 3 || len(srv.Maildrop("now")) != 0 {
		t.Errorf("now (delete: true): new %d deleted %d left %d %v", r.New, r.Deleted, len(srv.Maildrop("now")), r.Err())
	}
	if r := results["later"]; !r.OK() || r.New != 3 || r.Deleted != 0 || len(srv.Maildrop("later")) != 3 {
		t.Errorf("later (delete_after: 30d): new %d deleted %d left %d %v", r.New, r.Deleted, len(srv.Maildrop("later")), r.Err())
	}
	if r := results["keep"]; r.Fatal == nil || !strings.Contains(r.Fatal.Error(), "AUTH") || len(srv.Maildrop("keep")) != 3 {
		t.Errorf("keep (wrong password): Fatal %v", r.Fatal)
	}
	// A dry run deletes nothing and writes nothing.
	srv.AddMessage("now", "now-new", []byte("Subject: new\r\n\r\nnew\r\n"))
	before, _ := repo.Totals(context.Background())
	r := g.env(cfg, nil).BackupAccount(context.Background(), repo, cfg.Accounts["now"], true)
	after, _ := repo.Totals(context.Background())
	if !r.OK() || !r.DryRun || r.New != 1 || r.Deleted != 0 || len(srv.Maildrop("now")) != 1 || after != before {
		t.Errorf("dry run: new %d deleted %d left %d, archive %+v -> %+v", r.New, r.Deleted, len(srv.Maildrop("now")), before, after)
	}
}
