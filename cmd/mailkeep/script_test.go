package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/sample"
)

// CLI behaviour as a user sees it (STYLE.md 9): the scripts in
// testdata/script run the real command, with an in-process IMAP server
// per script whose port is $IMAPPORT (user alice, password $PASSWORD).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mailkeep": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			srv := imapsrv.New(nil)
			if err := srv.Start(); err != nil {
				return err
			}
			env.Defer(func() { srv.Close() })
			srv.AddUser("alice", "s3cret-pw")
			for _, f := range sample.Folders {
				if f.Name != "INBOX" {
					var su []imap.MailboxAttr
					if f.SpecialUse != "" {
						su = append(su, imap.MailboxAttr(f.SpecialUse))
					}
					srv.AddMailbox("alice", f.Name, su...)
				}
			}
			for _, m := range sample.Generate(40, 9) {
				srv.AddMessage("alice", m.Folder, m.Raw, m.Flags, m.Date)
			}
			for i, m := range sample.Awkward() {
				srv.AddMessage("alice", "INBOX", m.Raw, nil, time.Date(2020, 1, 1+i, 0, 0, 0, 0, time.UTC))
			}
			env.Values["srv"] = srv
			// A second server on implicit TLS with a self-signed certificate
			// (tls_cert.txtar); TLSFP is that certificate's fingerprint.
			tsrv := imapsrv.New(&imapsrv.Options{TLS: true})
			if err := tsrv.Start(); err != nil {
				return err
			}
			env.Defer(func() { tsrv.Close() })
			tsrv.AddUser("alice", "s3cret-pw")
			tc, err := tls.Dial("tcp", tsrv.Addr(), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				return err
			}
			env.Setenv("TLSFP", config.Fingerprint(tc.ConnectionState().PeerCertificates[0]))
			tc.Close()
			env.Setenv("TLSPORT", portOf(tsrv.Addr()))
			env.Setenv("IMAPPORT", portOf(srv.Addr()))
			env.Setenv("PASSWORD", "s3cret-pw")
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// expand FILE: replace $VARS in FILE from the script's environment.
			"expand": func(ts *testscript.TestScript, neg bool, args []string) {
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(os.Expand(string(b), ts.Getenv)), 0o600))
			},
			// add-mail FOLDER N: N new messages arrive on the server.
			"add-mail": func(ts *testscript.TestScript, neg bool, args []string) {
				srv := ts.Value("srv").(*imapsrv.Server)
				n, _ := strconv.Atoi(args[1])
				for _, m := range sample.Generate(n, uint64(time.Now().UnixNano())) {
					srv.AddMessage("alice", args[0], m.Raw, nil, m.Date)
				}
			},
			// add-raw FOLDER FILE: the message in FILE arrives on the server.
			"add-raw": func(ts *testscript.TestScript, neg bool, args []string) {
				srv := ts.Value("srv").(*imapsrv.Server)
				b, err := os.ReadFile(ts.MkAbs(args[1]))
				ts.Check(err)
				srv.AddMessage("alice", args[0], b, nil, time.Date(2021, 2, 3, 4, 5, 6, 0, time.UTC))
			},
			// corrupt-pack ARCHIVE: flip a byte in the middle of the first pack.
			"corrupt-pack": func(ts *testscript.TestScript, neg bool, args []string) {
				path := ts.MkAbs(args[0]) + "/data/00000001.pack"
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				ts.Check(err)
				st, _ := f.Stat()
				b := []byte{0}
				f.ReadAt(b, st.Size()/2)
				b[0] ^= 0xff
				f.WriteAt(b, st.Size()/2)
				f.Close()
			},
			// json-envelope FILE: every line of FILE is a JSON object in
			// the one envelope: type, account, folder, counts (error when set).
			"json-envelope": func(ts *testscript.TestScript, neg bool, args []string) {
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				n := 0
				for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						ts.Fatalf("not a JSON object: %q", line)
					}
					typ, _ := m["type"].(string)
					_, acct := m["account"].(string)
					_, folder := m["folder"].(string)
					_, counts := m["counts"].(map[string]any)
					if typ == "" || !acct || !folder || !counts {
						ts.Fatalf("not in the envelope (type, account, folder, counts): %q", line)
					}
					if e, ok := m["error"]; ok {
						if s, _ := e.(string); s == "" {
							ts.Fatalf("error is not a message: %q", line)
						}
					}
					n++
				}
				if n == 0 {
					ts.Fatalf("%s: no JSON lines", args[0])
				}
			},
			// truncate-pack ARCHIVE: the first pack loses its second half.
			"truncate-pack": func(ts *testscript.TestScript, neg bool, args []string) {
				path := ts.MkAbs(args[0]) + "/data/00000001.pack"
				st, err := os.Stat(path)
				ts.Check(err)
				ts.Check(os.Truncate(path, st.Size()/2))
			},
			// corrupt-index ARCHIVE: garbage over the middle page of index.db.
			"corrupt-index": func(ts *testscript.TestScript, neg bool, args []string) {
				path := ts.MkAbs(args[0]) + "/index.db"
				st, err := os.Stat(path)
				ts.Check(err)
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				ts.Check(err)
				junk := make([]byte, 4096)
				for i := range junk {
					junk[i] = 0xa5
				}
				_, err = f.WriteAt(junk, st.Size()/4096/2*4096)
				ts.Check(err)
				ts.Check(f.Close())
			},
			// downgrade-v1 ARCHIVE: the archive as format version 1 had it (v1_downgrade_test.go).
			"downgrade-v1": downgradeV1Cmd,
			// hold-lock ARCHIVE: another writer holds the archive until the script ends.
			"hold-lock": func(ts *testscript.TestScript, neg bool, args []string) {
				r, err := archive.Open(context.Background(), ts.MkAbs(args[0]), &archive.Options{Create: true, Purpose: "mailkeep backup (test holder)"})
				ts.Check(err)
				ts.Defer(func() { r.Close() })
			},
		},
	})
}
