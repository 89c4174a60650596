package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"archive: ~\n",
		head + workOK,
		head + workOK + "jobs:\n  j: {schedule: \"TZ=\", backup: [work]}\n",
		"x-a: &a {<<: *a}\n",
		"a: &a [*a, *a]\nb: &b [*a, *a]\n",
		"accounts: {a: {imap: {<<: [{host: x}, {port: 1}]}}}\n",
		"accounts:\n  w:\n    folders: {include: [\"[*%\"]}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if c != nil {
				t.Fatalf("Parse() returned a config and an error")
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
				t.Fatalf("Parse() error %T without problems: %v", err, err)
			}
			for _, p := range cerr.Problems {
				if p.Msg == "" {
					t.Fatalf("Parse() problem without a message: %#v", p)
				}
			}
			return
		}
		// A config that passed validation keeps its promises.
		if c.Archive == "" || len(c.Accounts) == 0 || c.Concurrency < 1 {
			t.Fatalf("Parse() accepted an incomplete config: %+v", c)
		}
		for name, a := range c.Accounts {
			if (a.IMAP == nil) == (a.POP3 == nil) || a.Server().Port < 1 || a.Server().Port > 65535 || a.Connections < 1 || a.Username == "" || a.SecretSource() == "" {
				t.Fatalf("Parse() accepted account %s = %#v", name, a)
			}
		}
		for name, j := range c.Jobs {
			if j.Kind() == "" || j.Location == nil || (j.Schedule != "") != (j.Cron != nil) {
				t.Fatalf("Parse() accepted job %s = %+v", name, j)
			}
			for _, acct := range j.Accounts() {
				if c.Accounts[acct] == nil {
					t.Fatalf("Parse() accepted job %s naming unknown account %q", name, acct)
				}
			}
		}
	})
}
