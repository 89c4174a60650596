package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // time zone tests must not depend on the machine's zoneinfo
)

func mustParse(t *testing.T, src, path string) (*Config, []Warning) {
	t.Helper()
	c, w, err := Parse([]byte(src), path)
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	return c, w
}

func TestParseDefaults(t *testing.T) {
	src := `archive: /srv/archive
accounts:
  imaps: {imap: {host: a.example}, username: u, password_env: P}
  imapstarttls: {imap: {host: b.example, security: starttls}, username: u, password_env: P}
  imapnone: {imap: {host: 127.0.0.1, security: none}, username: u, password_env: P}
  pop3s: {pop3: {host: c.example}, username: u, password_env: P}
  pop3starttls: {pop3: {host: d.example, security: starttls}, username: u, password_env: P}
  pop3none: {pop3: {host: localhost, security: none}, username: u, password_env: P}
  custom: {imap: {host: "::1", port: 10993, timeout: 5s}, username: u, password_env: P, connections: 12}
jobs:
  trim: {cleanup: {account: imaps, older_than: 1y}}
`
	c, w := mustParse(t, src, "config.yaml")
	if len(w) != 0 {
		t.Errorf("Parse() warnings = %q, want none", w)
	}
	if c.Concurrency != 4 || c.Path != "config.yaml" || c.Archive != "/srv/archive" {
		t.Errorf("Parse() = Concurrency %d, Path %q, Archive %q; want 4, config.yaml, /srv/archive", c.Concurrency, c.Path, c.Archive)
	}
	tests := []struct {
		account, protocol, security, addr string
		connections                       int
		timeout                           time.Duration
	}{
		{"imaps", "imap", "tls", "a.example:993", 4, 60 * time.Second},
		{"imapstarttls", "imap", "starttls", "b.example:143", 4, 60 * time.Second},
		{"imapnone", "imap", "none", "127.0.0.1:143", 4, 60 * time.Second},
		{"pop3s", "pop3", "tls", "c.example:995", 1, 60 * time.Second},
		{"pop3starttls", "pop3", "starttls", "d.example:110", 1, 60 * time.Second},
		{"pop3none", "pop3", "none", "localhost:110", 1, 60 * time.Second},
		{"custom", "imap", "tls", "[::1]:10993", 12, 5 * time.Second},
	}
	for _, tt := range tests {
		a := c.Accounts[tt.account]
		s := a.Server()
		got := []any{a.Protocol(), s.Security, s.Addr(), a.Connections, s.Timeout}
		want := []any{tt.protocol, tt.security, tt.addr, tt.connections, tt.timeout}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("account %s: protocol, security, Addr(), connections, timeout = %v, want %v", tt.account, got, want)
		}
	}
	if got, want := c.AccountNames(), []string{"custom", "imaps", "imapstarttls", "imapnone", "pop3none", "pop3s", "pop3starttls"}; !reflect.DeepEqual(got, sortedCopy(want)) {
		t.Errorf("AccountNames() = %v, want %v", got, sortedCopy(want))
	}
	j := c.Jobs["trim"]
	if j.Kind() != "cleanup" || j.Cleanup.By != "internaldate" || j.Location != time.Local || j.Cron != nil {
		t.Errorf("job trim: Kind %q, By %q, Location %v, Cron %v; want cleanup, internaldate, Local, nil", j.Kind(), j.Cleanup.By, j.Location, j.Cron)
	}
	if got := c.JobNames(); !reflect.DeepEqual(got, []string{"trim"}) {
		t.Errorf("JobNames() = %v, want [trim]", got)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestParseFullAccount(t *testing.T) {
	src := head + `    imap: {host: "[2001:db8::1]", security: starttls, tls_skip_verify: true, ca_file: certs/ca.pem}
    username: 12345
    auth: plain
    password_file: ~/.config/mailkeep/work.pass
    folders: {include: [INBOX, "Archive/*"], exclude: ["Archive/Old*"]}
    connections: 2
    folder_map: {Sent: Sent Items, "Lists/*": "Archive/Lists/*"}
    max_bytes_per_day: 2.5GB
    max_bytes_per_second: 1048576
`
	home := t.TempDir()
	t.Setenv("HOME", home)
	c, w := mustParse(t, src, "/etc/mailkeep/config.yaml")
	a := c.Accounts["work"]
	want := &Account{
		Name:     "work",
		IMAP:     &Server{Host: "2001:db8::1", Port: 143, Security: "starttls", TLSSkipVerify: true, CAFile: "/etc/mailkeep/certs/ca.pem", Timeout: time.Minute},
		Username: "12345", Auth: "plain",
		PasswordFile:   filepath.Join(home, ".config/mailkeep/work.pass"),
		Folders:        FolderFilter{Include: []string{"INBOX", "Archive/*"}, Exclude: []string{"Archive/Old*"}},
		Connections:    2,
		FolderMap:      map[string]string{"Sent": "Sent Items", "Lists/*": "Archive/Lists/*"},
		MaxBytesPerDay: 2_500_000_000, MaxBytesPerSecond: 1 << 20, MaxMessageSize: DefaultMaxMessageSize,
		Line: 3, dir: "/etc/mailkeep", passwordFileLine: 7,
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("Parse() account =\n%#v\nwant\n%#v\nIMAP %+v, want %+v", a, want, *a.IMAP, *want.IMAP)
	}
	if a.IMAP.Addr() != "[2001:db8::1]:143" {
		t.Errorf("Addr() = %q, want [2001:db8::1]:143", a.IMAP.Addr())
	}
	wantWarn := []Warning{`/etc/mailkeep/config.yaml:4: accounts.work.imap.tls_skip_verify: the server's certificate is not checked; prefer ca_file`}
	if !reflect.DeepEqual(w, wantWarn) {
		t.Errorf("Parse() warnings = %q, want %q", w, wantWarn)
	}
}

func TestParseJobs(t *testing.T) {
	src := head + workOK + `  new: {imap: {host: n.example}, username: u, auth: oauthbearer, token_command: tok}
  isp: {pop3: {host: p.example}, username: u, password_env: P, delete: true}
jobs:
  nightly:
    schedule: "0 3 * * *"
    timezone: Europe/Berlin
    jitter: 10m
    on_failure: echo failed
    backup: [work, isp]
  move: {migrate: {from: isp, to: new, folders: [INBOX]}}
  trim:
    timezone: America/New_York
    cleanup: {account: work, older_than: 18m, before: 2020-01-31, larger_than: 10MB, folders: {exclude: [Drafts]}, exclude: [Keep], by: date-header}
  out: {schedule: "@every 90m", export: {account: isp, format: maildir, out: exports/isp, include_deleted: true}}
`
	c, _ := mustParse(t, src, "/home/me/mk.yaml")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")

	n := c.Jobs["nightly"]
	if n.Kind() != "backup" || !reflect.DeepEqual(n.Backup, []string{"work", "isp"}) || n.Jitter != 10*time.Minute || n.OnFailure != "echo failed" || n.Line != 10 {
		t.Errorf("nightly = %+v", n)
	}
	from := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	if got, want := n.Cron.Next(from), time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("nightly Cron.Next(%v) = %v, want %v (03:00 in Berlin, CEST)", from, got, want)
	}
	if n.Location.String() != berlin.String() {
		t.Errorf("nightly Location = %v, want Europe/Berlin", n.Location)
	}

	m := c.Jobs["move"]
	if m.Kind() != "migrate" || m.Migrate.From != "isp" || m.Migrate.To != "new" || !reflect.DeepEqual(m.Migrate.Folders.Include, []string{"INBOX"}) {
		t.Errorf("move = %+v %+v", m, m.Migrate)
	}
	if got := m.Accounts(); !reflect.DeepEqual(got, []string{"isp", "new"}) {
		t.Errorf("move.Accounts() = %v", got)
	}

	cl := c.Jobs["trim"].Cleanup
	wantCl := &CleanupJob{Account: "work", OlderThan: MustParseAge("18m"), Before: time.Date(2020, 1, 31, 0, 0, 0, 0, ny),
		LargerThan: 10_000_000, Folders: FolderFilter{Exclude: []string{"Drafts", "Keep"}}, By: "date-header"}
	if !reflect.DeepEqual(cl, wantCl) {
		t.Errorf("trim.Cleanup = %+v, want %+v", cl, wantCl)
	}

	o := c.Jobs["out"]
	wantEx := &ExportJob{Account: "isp", Format: "maildir", Out: "/home/me/exports/isp", IncludeDeleted: true}
	if o.Kind() != "export" || !reflect.DeepEqual(o.Export, wantEx) {
		t.Errorf("out.Export = %+v, want %+v", o.Export, wantEx)
	}
	if got := o.Cron.Next(from); !got.Equal(from.Add(90 * time.Minute)) {
		t.Errorf("out Cron.Next(%v) = %v, want 90m later", from, got)
	}
	if !c.Accounts["isp"].Delete || c.Accounts["new"].SecretSource() != "token_command" {
		t.Errorf("isp.Delete = %v, new.SecretSource() = %q", c.Accounts["isp"].Delete, c.Accounts["new"].SecretSource())
	}
}

func TestParseAnchorsAndMerge(t *testing.T) {
	src := `x-lab: &lab {host: 127.0.0.1, port: 10143, security: none}
x-common: &common {username: alice, password_env: LAB_PW}
archive: ./archive
accounts:
  a: {imap: *lab, <<: *common}
  b:
    <<: *common
    username: bob
    imap: {<<: *lab, port: 10993, security: tls, tls_skip_verify: true}
`
	c, _ := mustParse(t, src, "lab/config.yaml")
	a, b := c.Accounts["a"], c.Accounts["b"]
	if a.IMAP.Addr() != "127.0.0.1:10143" || a.IMAP.Security != "none" || a.Username != "alice" || a.PasswordEnv != "LAB_PW" {
		t.Errorf("account a = %#v, IMAP %+v", a, *a.IMAP)
	}
	if b.IMAP.Addr() != "127.0.0.1:10993" || b.IMAP.Security != "tls" || b.Username != "bob" || b.PasswordEnv != "LAB_PW" {
		t.Errorf("account b = %#v, IMAP %+v", b, *b.IMAP)
	}
	if a.IMAP == b.IMAP {
		t.Error("accounts share one *Server; want a copy each")
	}
	if c.Archive != filepath.Join("lab", "archive") {
		t.Errorf("Archive = %q, want lab/archive (relative to the config file)", c.Archive)
	}
}

func TestParseMergeErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"merge of a scalar", head + "    <<: 5\n" + workOK, "config.yaml:4: accounts.work.<<: expected a mapping or a list of mappings to merge, got \"5\""},
		{"unknown key from a merge", "x-a: &a {hots: h}\n" + head + "    imap: {<<: *a, host: h}\n    username: u\n    password_env: P\n",
			"config.yaml:1: accounts.work.imap.hots: unknown key (did you mean \"host\"?)"},
		{"self-referencing merge", "archive: /a\naccounts: &a\n  work: {<<: *a}\n",
			"config.yaml:3: accounts.work.work: unknown key\nconfig.yaml:3: accounts.work: needs an imap or a pop3 server\nconfig.yaml:3: accounts.work.username: required\nconfig.yaml:3: accounts.work: no password: set one of password_command, password_env, password_file or password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.yaml), "config.yaml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse() error =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	src := `archive: "$HOME/mail"
accounts:
  work: {imap: {host: imap.example.com, security: none}, username: u, password_env: P}
jobs:
  j: {jitter: 5m, backup: [work]}
`
	_, w := mustParse(t, src, "config.yaml")
	want := []Warning{
		`config.yaml:1: archive: "$HOME/mail": environment variables are not expanded in config values`,
		`config.yaml:3: accounts.work.imap.security: none: the password crosses the network unencrypted`,
		`config.yaml:5: jobs.j.jitter: has no effect without a schedule`,
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("Parse() warnings =\n%s\nwant\n%s", join(w), join(want))
	}
}

func join(ws []Warning) string {
	var s []string
	for _, w := range ws {
		s = append(s, string(w))
	}
	return strings.Join(s, "\n")
}

func TestLoadPermissionWarning(t *testing.T) {
	inline := head + "    imap: {host: h}\n    username: me\n    password: hunter2\n"
	tests := []struct {
		name string
		src  string
		mode os.FileMode
		want []Warning
	}{
		{"world-readable with password", inline, 0o644, []Warning{"FILE:6: accounts.work.password: inline password in a file other users can read (mode 0644): chmod 600 the file, or use password_command"}},
		{"group-readable with password", inline, 0o640, []Warning{"FILE:6: accounts.work.password: inline password in a file other users can read (mode 0640): chmod 600 the file, or use password_command"}},
		{"private with password", inline, 0o600, nil},
		{"world-readable without password", head + workOK, 0o644, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tt.src), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // umask
				t.Fatal(err)
			}
			c, w, err := Load(path)
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			var want []Warning
			for _, x := range tt.want {
				want = append(want, Warning(strings.Replace(string(x), "FILE", path, 1)))
			}
			if !reflect.DeepEqual(w, want) {
				t.Errorf("Load() warnings = %q, want %q", w, want)
			}
			if c.Path != path {
				t.Errorf("Load() Path = %q, want %q", c.Path, path)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: open ") {
		t.Errorf("Load() error = %v, want a not-exist error starting with \"config: open \"", err)
	}
}

func TestParseExpandsTilde(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	c, _ := mustParse(t, "archive: \"~\"\naccounts:\n  work:\n"+workOK, "config.yaml")
	if c.Archive != home {
		t.Errorf("Archive = %q, want %q", c.Archive, home)
	}
}
