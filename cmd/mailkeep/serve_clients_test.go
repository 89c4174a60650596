package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/serve"
)

// serveDovecotEnv is a Dovecot account backed up into an archive, with a
// config that names it and a serve: block.
type serveDovecotEnv struct {
	srv        *dovecot.Server
	user, pass string
	config     string
	archive    string
}

func newServeDovecotEnv(t *testing.T) *serveDovecotEnv {
	t.Helper()
	srv := dovecot.Shared(t)
	user, pass := srv.NewUser(t)
	base := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	var inbox, arch []dovecot.Message
	for i := range 40 {
		raw := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: %s@example.org\r\nSubject: message %d =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\n"+
			"Date: %s\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody %d\r\n%s\r\n", i, i, user, i,
			base.Add(time.Duration(i)*time.Hour).Format(time.RFC1123Z), i, i, strings.Repeat("long line ", i*20))
		flags := []string{`\Seen`}
		if i%3 == 0 {
			flags = append(flags, `\Flagged`, "Work")
		}
		inbox = append(inbox, dovecot.Message{Raw: []byte(raw), Flags: flags, Date: base.Add(time.Duration(i) * time.Hour)})
	}
	for i := range 10 {
		raw := fmt.Sprintf("From: old@example.org\r\nSubject: archived %d\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nK\xf6ln %d\r\n", i, i)
		arch = append(arch, dovecot.Message{Raw: []byte(raw), Date: base.AddDate(-1, 0, i)})
	}
	srv.Seed(t, user, "INBOX", inbox)
	srv.Seed(t, user, "Archive/2019", arch)
	dir := t.TempDir()
	e := &serveDovecotEnv{srv: srv, user: user, pass: pass, config: filepath.Join(dir, "mailkeep.yaml"), archive: filepath.Join(dir, "archive")}
	_, port, _ := net.SplitHostPort(srv.IMAPAddr)
	cfg := fmt.Sprintf(`archive: %s
accounts:
  dv:
    imap: {host: 127.0.0.1, port: %s, security: starttls, ca_file: %s}
    username: %s
    password_env: DV_PW
serve:
  username: me
  password_env: MK_SERVE_PW
`, e.archive, port, srv.CertFile, user)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DV_PW", pass)
	t.Setenv("MK_SERVE_PW", "serve-pw")
	if code, stdout, stderr := runCLI("--config", e.config, "backup", "dv"); code != exitOK {
		t.Fatalf("backup = exit %d\n%s%s", code, stdout, stderr)
	}
	return e
}

// serveArchive serves dir read-only on a free loopback port.
func serveArchive(t *testing.T, dir, account string) string {
	t.Helper()
	repo, err := archive.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.New(&serve.Options{Repo: repo, Account: account, Username: "me", Password: "serve-pw"})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() { srv.Close(); <-done; repo.Close() })
	return ln.Addr().String()
}

type imapHashes struct {
	Folders     map[string][]string
	UIDValidity map[string]uint32
}

func pyHash(t *testing.T, addr, user, pass, cafile string) imapHashes {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"../../internal/serve/testdata/imaphash.py", host, port, user, pass}
	if cafile != "" {
		args = append(args, cafile)
	}
	out, err := exec.Command("python3", args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("imaphash.py %s: %v\n%s", addr, err, msg)
	}
	var h imapHashes
	if err := json.Unmarshal(out, &h); err != nil {
		t.Fatalf("imaphash.py: %v: %s", err, out)
	}
	return h
}

// TestServeImaplibHashesMatchDovecot: Python's imaplib reads every
// message from mailkeep serve with the same SHA-256 as from the Dovecot
// account it was backed up from, folder by folder; UIDVALIDITY stays.
func TestServeImaplibHashesMatchDovecot(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	e := newServeDovecotEnv(t)
	src := pyHash(t, e.srv.IMAPAddr, e.user, e.pass, e.srv.CertFile)
	addr := serveArchive(t, e.archive, "dv")
	got := pyHash(t, addr, "me", "serve-pw", "")
	if len(src.Folders["INBOX"]) != 40 || len(src.Folders["Archive/2019"]) != 10 {
		t.Fatalf("Dovecot: %d folders %v", len(src.Folders), src.Folders)
	}
	for folder, want := range src.Folders {
		g := got.Folders[folder]
		if fmt.Sprint(g) != fmt.Sprint(want) {
			t.Errorf("%s: imaplib hashes from mailkeep serve differ from Dovecot's:\n got %v\nwant %v", folder, g, want)
		}
	}
	for folder := range got.Folders {
		if _, ok := src.Folders[folder]; !ok && folder != "Archive" {
			t.Errorf("mailkeep serve has folder %q that Dovecot does not", folder)
		}
	}
	// A restart serves the same UIDVALIDITY.
	again := pyHash(t, serveArchive(t, e.archive, "dv"), "me", "serve-pw", "")
	if fmt.Sprint(again.UIDValidity) != fmt.Sprint(got.UIDValidity) {
		t.Errorf("UIDVALIDITY after a restart %v, before %v", again.UIDValidity, got.UIDValidity)
	}
}

// TestServeMbsyncPullsEverything: mbsync pulls every folder and message
// from mailkeep serve into a Maildir; a second run finds nothing new.
func TestServeMbsyncPullsEverything(t *testing.T) {
	if _, err := exec.LookPath("mbsync"); err != nil {
		t.Skip("mbsync (isync) is not installed")
	}
	e := newServeDovecotEnv(t)
	addr := serveArchive(t, e.archive, "dv")
	host, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	local := filepath.Join(dir, "mail")
	os.MkdirAll(local, 0o700)
	rc := fmt.Sprintf(`IMAPAccount mk
Host %s
Port %s
User me
Pass serve-pw
SSLType None
AuthMechs LOGIN

IMAPStore mk-remote
Account mk

MaildirStore mk-local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel mk
Far :mk-remote:
Near :mk-local:
Patterns *
Create Near
Sync Pull
Expunge None
SyncState *
`, host, port, local, local)
	rcPath := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() string {
		cmd := exec.Command("mbsync", "-c", rcPath, "-a")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		return string(out)
	}
	run()
	if d := os.Getenv("MK_KEEP_MBSYNC"); d != "" {
		exec.Command("cp", "-r", local, d).Run()
	}
	// What the archive holds, by folder, as mbsync stores it (LF lines).
	repo, err := archive.Open(context.Background(), e.archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	want := map[string][]string{}
	for m, err := range repo.Messages(context.Background(), archive.Query{Account: "dv"}) {
		if err != nil {
			t.Fatal(err)
		}
		raw, err := repo.ReadMessage(context.Background(), m.Hash)
		if err != nil {
			t.Fatal(err)
		}
		want[m.FolderName] = append(want[m.FolderName], lfSum(raw))
	}
	got := map[string][]string{}
	filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Base(filepath.Dir(p)) != "cur" && filepath.Base(filepath.Dir(p)) != "new") {
			return nil
		}
		rel, _ := filepath.Rel(local, filepath.Dir(filepath.Dir(p)))
		b, _ := os.ReadFile(p)
		// mbsync adds an X-TUID header of its own to every message it
		// stores (isync's way to find it again); it is not the server's.
		b = tuidRE.ReplaceAll(b, nil)
		got[rel] = append(got[rel], lfSum(b))
		return nil
	})
	for folder, w := range want {
		g := got[folder]
		sort.Strings(g)
		sort.Strings(w)
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s: mbsync pulled %d messages, the archive has %d (or their bytes differ)", folder, len(g), len(w))
		}
	}
	if len(want) != 2 {
		t.Errorf("archive folders %v", want)
	}
	// Flags came along: a third of INBOX is flagged.
	flagged := 0
	filepath.WalkDir(filepath.Join(local, "INBOX"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.Base(p), ":2,") && strings.Contains(p[strings.LastIndex(p, ":2,"):], "F") {
			flagged++
		}
		return nil
	})
	if flagged != 14 {
		t.Errorf("%d flagged messages in the pulled INBOX, want 14", flagged)
	}
	if out := run(); strings.Contains(out, "error") {
		t.Errorf("second mbsync run: %s", out)
	}
}

var tuidRE = regexp.MustCompile(`(?m)^X-TUID: [^\n]*\n`)

// lfSum is the SHA-256 of raw with CRLF as LF (mbsync's Maildir form).
func lfSum(raw []byte) string {
	s := sha256.Sum256(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
	return hex.EncodeToString(s[:])
}

// TestServeCLIRefusals: serve needs a serve: block, and without TLS it
// listens on loopback only.
func TestServeCLIRefusals(t *testing.T) {
	e := newPOP3DeleteEnv(t)
	code, _, stderr := runCLI("--config", e.config, "serve")
	if code != exitUsage || !strings.Contains(stderr, "has no serve: block") || !strings.Contains(stderr, "examples/serve.yaml") {
		t.Errorf("serve without a serve: block = exit %d, %q", code, stderr)
	}
	cfg, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, append(cfg, []byte("serve: {username: me, password_env: BOB_PW}\n")...), 0o600)
	code, _, stderr = runCLI("--config", e.config, "serve", "--listen", "0.0.0.0:1143")
	if code != exitUsage || !strings.Contains(stderr, "reachable from other machines") {
		t.Errorf("serve --listen 0.0.0.0:1143 = exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI("--config", e.config, "serve", "--account", "nobody")
	if code != exitUsage || !strings.Contains(stderr, `"nobody"`) {
		t.Errorf("serve --account nobody = exit %d, %q", code, stderr)
	}
}
