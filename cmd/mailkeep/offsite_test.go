package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/s3test"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// offsiteSubject is in every message of the off-site tests: with
// encryption on, no pack and no pushed object may contain it.
const offsiteSubject = "Offsite marker: the Zanzibar ledger"

type offsiteEnv struct {
	t       *testing.T
	dir     string
	cfg     string
	s3      *s3test.Server
	imap    *imapsrv.Server
	raws    map[[32]byte]bool // every message on the server
	nextMsg int
}

func newOffsiteEnv(t *testing.T, encryption string) *offsiteEnv {
	s3 := s3test.Start(t)
	s3.CreateBucket(t, "backups")
	t.Setenv("MK_S3_KEY", s3.AccessKey)
	t.Setenv("MK_S3_SECRET", s3.SecretKey)
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser("alice", "pw-alice")
	e := &offsiteEnv{t: t, dir: t.TempDir(), s3: s3, imap: srv, raws: map[[32]byte]bool{}}
	e.addMail(120)
	e.cfg = filepath.Join(e.dir, "mailkeep.yaml")
	cfg := fmt.Sprintf(`archive: %s
accounts:
  alice: {imap: {host: 127.0.0.1, port: %s, security: none}, username: alice, password_env: MK_ALICE_PW}
offsite:
  s3: {endpoint: "http://%s", bucket: backups, prefix: team/shard-0, path_style: true, access_key_env: MK_S3_KEY, secret_key_env: MK_S3_SECRET}
jobs:
  nightly: {backup: [alice], push: true}
%s`, filepath.Join(e.dir, "archive"), portOf(srv.Addr()), s3.Endpoint, encryption)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MK_ALICE_PW", "pw-alice")
	return e
}

// addMail puts n new messages on the server, each with offsiteSubject.
func (e *offsiteEnv) addMail(n int) {
	for _, m := range sample.Generate(n, uint64(1000+e.nextMsg)) {
		raw := bytes.Replace(m.Raw, []byte("Subject: "), []byte(fmt.Sprintf("Subject: %s %d ", offsiteSubject, e.nextMsg)), 1)
		if !bytes.Contains(raw, []byte(offsiteSubject)) {
			raw = append([]byte(fmt.Sprintf("Subject: %s %d\r\n", offsiteSubject, e.nextMsg)), raw...)
		}
		e.nextMsg++
		e.imap.AddMessage("alice", "INBOX", raw, nil, m.Date)
		e.raws[sha256.Sum256(raw)] = true
	}
}

// mk runs mailkeep with the env's config; it fails the test unless the
// exit code is code.
func (e *offsiteEnv) mk(code int, args ...string) (string, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	got := run(append([]string{"--config", e.cfg}, args...), &out, &errb)
	if got != code {
		e.t.Fatalf("mailkeep %s = exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out.String(), errb.String())
	}
	for _, s := range []string{out.String(), errb.String()} {
		if strings.Contains(s, e.s3.SecretKey) || strings.Contains(s, "pw-alice") {
			e.t.Fatalf("mailkeep %s printed a secret: %s", strings.Join(args, " "), s)
		}
	}
	return out.String(), errb.String()
}

// push runs mailkeep --json push and returns the bytes it sent.
func (e *offsiteEnv) push() int64 {
	e.t.Helper()
	out, _ := e.mk(exitOK, "--json", "push")
	m := regexp.MustCompile(`"bytes":(\d+)`).FindStringSubmatch(out)
	if m == nil {
		e.t.Fatalf("push printed no byte count: %s", out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// exportMatches exports the archive in dir as .eml and checks that the
// files are exactly the messages on the server.
func (e *offsiteEnv) exportMatches(dir string) {
	e.t.Helper()
	out := filepath.Join(e.t.TempDir(), "eml")
	e.mk(exitOK, "export", "alice", "--format", "eml", "--out", out, "--archive", dir)
	got := map[[32]byte]bool{}
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".eml") {
			b, _ := os.ReadFile(p)
			got[sha256.Sum256(b)] = true
		}
		return nil
	})
	if len(got) != len(e.raws) {
		e.t.Fatalf("export of %s has %d distinct messages, the server %d", dir, len(got), len(e.raws))
	}
	for h := range e.raws {
		if !got[h] {
			e.t.Fatalf("export of %s lacks a message of the server (sha256 %x)", dir, h)
		}
	}
}

func TestOffsitePushPullCLI(t *testing.T) {
	e := newOffsiteEnv(t, "")
	e.mk(exitOK, "backup")
	start := time.Now()
	first := e.push()
	t.Logf("first push: %d bytes in %v", first, time.Since(start))
	e.addMail(5)
	e.mk(exitOK, "backup")
	second := e.push()
	t.Logf("second push after 5 new messages: %d bytes (%.1f%% of the first)", second, 100*float64(second)/float64(first))
	if second*5 >= first {
		t.Fatalf("second push sent %d bytes, first %d: want under 20%%", second, first)
	}
	out, _ := e.mk(exitOK, "verify", "--offsite")
	if !strings.Contains(out, "all present and intact") {
		t.Fatalf("verify --offsite: %s", out)
	}
	pulled := filepath.Join(e.dir, "pulled")
	out, _ = e.mk(exitOK, "pull", "--into", pulled)
	if !strings.Contains(out, "pulled manifest 2") {
		t.Fatalf("pull: %s", out)
	}
	out, _ = e.mk(exitOK, "verify", "--archive", pulled)
	if !strings.Contains(out, "all intact") {
		t.Fatalf("verify of the pulled archive: %s", out)
	}
	e.exportMatches(pulled)

	// Faults as a user sees them: one line each.
	_, stderr := e.mk(exitFailed, "pull", "--into", pulled)
	wantOneLine(t, stderr, "is not empty")
	t.Setenv("MK_S3_SECRET", "wrong-secret-000000000000")
	_, stderr = e.mk(exitFailed, "push")
	wantOneLine(t, stderr, "access denied")
	t.Setenv("MK_S3_SECRET", e.s3.SecretKey)
	e.s3.Stop()
	_, stderr = e.mk(exitFailed, "push")
	wantOneLine(t, stderr, "cannot reach the server")
	e.s3.Restart(t)
	e.mk(exitOK, "push")
	_, stderr = e.mk(exitUsage, "pull")
	wantOneLine(t, stderr, "--into")
	good, _ := os.ReadFile(e.cfg)
	for _, tc := range []struct {
		name, from, to string
		code           int
		args           []string
		want           string
	}{
		{"missing bucket", "bucket: backups", "bucket: no-such-bucket", exitFailed, []string{"push"}, `bucket "no-such-bucket" does not exist`},
		{"missing bucket, pull", "bucket: backups", "bucket: no-such-bucket", exitFailed, []string{"pull", "--into", filepath.Join(e.dir, "nb")}, `bucket "no-such-bucket" does not exist`},
		{"missing bucket, verify", "bucket: backups", "bucket: no-such-bucket", exitFailed, []string{"verify", "--offsite"}, `bucket "no-such-bucket" does not exist`},
		{"nothing there", "prefix: team/shard-0", "prefix: team/empty", exitFailed, []string{"pull", "--into", filepath.Join(e.dir, "ne")}, "holds no off-site copy"},
		{"no offsite section", "offsite:", "x-offsite:", exitUsage, []string{"push"}, "jobs.nightly.push: needs offsite"},
		{"no archive", "archive: ", "archive: /nonexistent", exitFailed, []string{"push"}, "not a mailkeep archive"},
	} {
		os.WriteFile(e.cfg, bytes.Replace(good, []byte(tc.from), []byte(tc.to), 1), 0o600)
		_, stderr = e.mk(tc.code, tc.args...)
		wantOneLine(t, stderr, tc.want)
	}
	os.WriteFile(e.cfg, good, 0o600)
	if out, _ := e.mk(exitOK, "pull", "--into", filepath.Join(e.dir, "ne2"), "--missing-ok"); !strings.Contains(out, "manifest") {
		t.Fatalf("pull --missing-ok with a copy there: %s", out)
	}

	// A job with push: true pushes after its backup.
	e.addMail(3)
	e.mk(exitOK, "run", "nightly")
	out, _ = e.mk(exitOK, "verify", "--offsite", "--deep")
	if !strings.Contains(out, "manifest 4 ") || !strings.Contains(out, "all present and intact") {
		t.Fatalf("verify --offsite after the job: %s", out)
	}
	// The push fails, the backup does not: partly done, one line naming the push.
	e.s3.Stop()
	e.addMail(1)
	_, stderr = e.mk(exitPartial, "run", "nightly")
	if !strings.Contains(stderr, "cannot reach the server") {
		t.Fatalf("run nightly with the S3 server down: stderr %s", stderr)
	}
	e.s3.Restart(t)
	e.mk(exitOK, "push")
	again := filepath.Join(e.dir, "again")
	e.mk(exitOK, "pull", "--into", again)
	e.exportMatches(again)
}

// wantOneLine checks that stderr is one error line (and maybe a hint)
// containing want.
func wantOneLine(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if !strings.HasPrefix(lines[0], "mailkeep: error: ") || !strings.Contains(lines[0], want) ||
		len(lines) > 2 || (len(lines) == 2 && !strings.HasPrefix(lines[1], "mailkeep: hint: ")) {
		t.Fatalf("stderr = %q, want one error line containing %q", stderr, want)
	}
}

func TestOffsiteEncryptedCLI(t *testing.T) {
	dir := t.TempDir()
	idFile := filepath.Join(dir, "keys", "identity.txt")
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", "--out", idFile}, &out, &errb); code != exitOK {
		t.Fatalf("keygen = exit %d: %s", code, errb.String())
	}
	recipient := strings.TrimSpace(out.String())
	if fi, err := os.Stat(idFile); err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(recipient, "age1") {
		t.Fatalf("keygen wrote %v (%v), printed %q", fi, err, recipient)
	}
	e := newOffsiteEnv(t, fmt.Sprintf("encryption: {recipients: [%s], identity_file: %s}\n", recipient, idFile))
	e.mk(exitOK, "backup")
	first := e.push()
	e.addMail(5)
	e.mk(exitOK, "backup")
	second := e.push()
	t.Logf("encrypted: first push %d bytes, second after 5 new messages %d (%.1f%%)", first, second, 100*float64(second)/float64(first))
	if second*5 >= first {
		t.Fatalf("second push sent %d bytes, first %d: want under 20%%", second, first)
	}

	// Nothing readable in any pack or any pushed object.
	packs, _ := filepath.Glob(filepath.Join(e.dir, "archive", "data", "*.pack"))
	objects := e.s3.Files(t)
	if len(packs) == 0 || len(objects) < 4 {
		t.Fatalf("packs %v, pushed objects %v", packs, objects)
	}
	for _, f := range append(packs, objects...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range []string{offsiteSubject, "alice", "INBOX"} {
			if bytes.Contains(data, []byte(needle)) {
				t.Fatalf("%s contains %q", f, needle)
			}
		}
	}

	out2, _ := e.mk(exitOK, "verify", "--offsite", "--deep")
	if !strings.Contains(out2, "all present and intact") {
		t.Fatalf("verify --offsite: %s", out2)
	}
	pulled := filepath.Join(e.dir, "pulled")
	e.mk(exitOK, "pull", "--into", pulled)
	o, _ := e.mk(exitOK, "verify", "--archive", pulled)
	if !strings.Contains(o, "all intact") || strings.Contains(o, "not decrypted") {
		t.Fatalf("verify of the pulled archive with the identity: %s", o)
	}
	e.exportMatches(pulled)

	// Without the identity: pull and export fail with one line naming it;
	// verify checks what it can and says so.
	noID := filepath.Join(e.dir, "noid.yaml")
	cfg, _ := os.ReadFile(e.cfg)
	os.WriteFile(noID, bytes.Replace(cfg, []byte("identity_file: "+idFile), []byte("identity_file: "+idFile+".lost"), 1), 0o600)
	e.cfg = noID
	_, stderr := e.mk(exitFailed, "pull", "--into", filepath.Join(e.dir, "p2"))
	wantOneLine(t, stderr, "encrypted and there is no identity to decrypt it: encryption.identity_file: open "+idFile+".lost")
	_, stderr = e.mk(exitFailed, "export", "alice", "--format", "eml", "--out", filepath.Join(e.dir, "x1"), "--archive", pulled)
	wantOneLine(t, stderr, "is encrypted and there is no identity to decrypt it: encryption.identity_file: open "+idFile+".lost")
	o, _ = e.mk(exitOK, "verify", "--archive", pulled)
	if !strings.Contains(o, "all intact") || !strings.Contains(o, "not decrypted") {
		t.Fatalf("verify without the identity: %s", o)
	}
	// No config at all: the line says where the identity should come from.
	var o3, e3 bytes.Buffer
	t.Chdir(t.TempDir())
	if code := run([]string{"export", "alice", "--format", "eml", "--out", filepath.Join(e.dir, "x2"), "--archive", pulled}, &o3, &e3); code != exitFailed {
		t.Fatalf("export without config = exit %d: %s", code, e3.String())
	}
	wantOneLine(t, e3.String(), "no config file names encryption.identity_file")
}

// TestOffsiteWorkerCLI is the Kubernetes worker of examples/: an empty
// disk each run, the index pulled, a backup of what is new, a push.
func TestOffsiteWorkerCLI(t *testing.T) {
	e := newOffsiteEnv(t, "")
	t.Setenv("MAILKEEP_OFFSITE_PREFIX", "fleet/shard-3")
	archive := filepath.Join(e.dir, "archive")
	pod := func(nothingNew bool) int64 {
		t.Helper()
		os.RemoveAll(archive) // an emptyDir: nothing from the last run
		e.mk(exitOK, "pull", "--into", archive, "--index-only", "--missing-ok")
		out, _ := e.mk(exitOK, "backup")
		if strings.Contains(out, " new 0,") != nothingNew {
			t.Fatalf("backup on a worker with the pulled index: %s (nothing new: %v)", out, nothingNew)
		}
		if packs, _ := filepath.Glob(filepath.Join(archive, "data", "*.pack")); nothingNew && len(packs) != 0 {
			t.Fatalf("a backup with nothing new wrote packs %v", packs)
		}
		return e.push()
	}
	first := pod(false)
	second := pod(true)
	e.addMail(5)
	third := pod(false)
	t.Logf("worker pushes: %d, %d (nothing new), %d (5 new) bytes", first, second, third)
	if third*5 >= first {
		t.Fatalf("worker push of 5 new messages sent %d bytes, the first %d", third, first)
	}
	if objs := e.s3.Files(t); !strings.Contains(strings.Join(objs, "\n"), "/fleet/shard-3/manifest/") {
		t.Fatalf("nothing under fleet/shard-3: %v", objs)
	}
	full := filepath.Join(e.dir, "full")
	e.mk(exitOK, "pull", "--into", full)
	o, _ := e.mk(exitOK, "verify", "--archive", full)
	if !strings.Contains(o, "all intact") {
		t.Fatalf("verify of the worker's pulled archive: %s", o)
	}
	e.exportMatches(full)
}

// TestOffsiteTurnOnEncryptionCLI: an archive (and its off-site copy) made
// without encryption turns it on; repair --encrypt and a push leave
// nothing readable in the packs or off-site.
func TestOffsiteTurnOnEncryptionCLI(t *testing.T) {
	e := newOffsiteEnv(t, "")
	e.mk(exitOK, "backup")
	e.push()
	idFile := filepath.Join(e.dir, "identity.txt")
	out, _ := e.mk(exitOK, "keygen", "--out", idFile)
	cfg, _ := os.ReadFile(e.cfg)
	cfg = append(cfg, fmt.Sprintf("encryption: {recipients: [%s], identity_file: %s}\n", strings.TrimSpace(out), idFile)...)
	os.WriteFile(e.cfg, cfg, 0o600)
	e.addMail(5)
	e.mk(exitOK, "backup")
	e.push() // the new messages are encrypted; the old ones went off-site before
	holds := func(files []string) []string {
		var hits []string
		for _, f := range files {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(offsiteSubject)) {
				hits = append(hits, f)
			}
		}
		return hits
	}
	packs := func() []string {
		p, _ := filepath.Glob(filepath.Join(e.dir, "archive", "data", "*.pack"))
		return p
	}
	if len(holds(packs())) == 0 || len(holds(e.s3.Files(t))) == 0 {
		t.Fatal("test setup: no plaintext before repair --encrypt")
	}
	out, _ = e.mk(exitOK, "repair", "--encrypt")
	if !strings.Contains(out, "encrypted ") || !strings.Contains(out, "removed ") {
		t.Fatalf("repair --encrypt: %s", out)
	}
	if hits := holds(packs()); len(hits) != 0 {
		t.Fatalf("after repair --encrypt, %v hold plaintext", hits)
	}
	out, _ = e.mk(exitOK, "repair", "--encrypt")
	if !strings.Contains(out, "nothing to encrypt") {
		t.Fatalf("second repair --encrypt: %s", out)
	}
	e.push()
	if hits := holds(e.s3.Files(t)); len(hits) != 0 {
		t.Fatalf("after repair --encrypt and a push, %v off-site hold plaintext", hits)
	}
	o, _ := e.mk(exitOK, "verify")
	if !strings.Contains(o, "all intact") {
		t.Fatalf("verify after repair --encrypt: %s", o)
	}
	pulled := filepath.Join(e.dir, "pulled")
	e.mk(exitOK, "pull", "--into", pulled)
	e.exportMatches(pulled)
}
