package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

// TestServerTextNeverRawOnTheTerminal: a server whose folder names and
// subjects carry escape sequences and newlines gets them shown escaped in
// every line mailkeep prints (progress lines, errors, ls, export lines,
// summaries), never raw.
func TestServerTextNeverRawOnTheTerminal(t *testing.T) {
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("alice", "pw")
	evil := "Evil\x1b]0;pwned\x07\x1b[2J"
	forged := "Forged\u0085mailkeep: all done\u2028x" // NEL and LINE SEPARATOR: the test server refuses CR and LF
	for _, f := range []string{evil, forged} {
		if err := srv.AddMailbox("alice", f); err != nil {
			t.Fatal(err)
		}
	}
	subject := "Subject: \x1b[31mred\x1b[0m \u202egnp.exe\r\n\r\nbody\r\n"
	srv.AddMessage("alice", evil, []byte(subject), nil, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	srv.AddMessage("alice", forged, []byte("Subject: x\r\n\r\ny\r\n"), nil, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))

	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	os.WriteFile(cfg, []byte("archive: "+filepath.Join(dir, "arch")+"\naccounts:\n  demo:\n    imap: {host: 127.0.0.1, port: "+
		portOf(srv.Addr())+", security: none}\n    username: alice\n    password: pw\n"), 0o600)
	runs := [][]string{
		{"backup"},
		{"ls"},
		{"ls", "demo"},
		{"ls", "demo", evil},
		{"export", "demo", "--format", "mbox", "--out", filepath.Join(dir, "out")},
		{"export", "demo", "--format", "maildir", "--out", filepath.Join(dir, "out")}, // not empty: an error line
		{"-v", "check", "demo"},
	}
	var all bytes.Buffer
	for _, args := range runs {
		var out, errb bytes.Buffer
		run(append([]string{"--config", cfg}, args...), &out, &errb)
		for name, b := range map[string][]byte{"stdout": out.Bytes(), "stderr": errb.Bytes()} {
			if i := bytes.IndexAny(b, "\x1b\x07\r"); i >= 0 {
				t.Errorf("mailkeep %s: raw control character on %s: %q", strings.Join(args, " "), name, b)
			}
			for _, r := range []string{"\u202e", "\u0085", "\u2028"} {
				if bytes.Contains(b, []byte(r)) {
					t.Errorf("mailkeep %s: raw %+q on %s: %q", strings.Join(args, " "), r, name, b)
				}
			}
		}
		all.Write(out.Bytes())
		all.Write(errb.Bytes())
	}
	for _, want := range []string{`Evil\x1b]0;pwned\x07\x1b[2J`, `Forged\u0085mailkeep: all done\u2028x`, `\x1b[31mred\x1b[0m`, `\u202egnp.exe`} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("output never shows %s (escaped)", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", all.String())
	}
}
