package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// head is a valid start of a file: the account "work" begins on line 3
// and its keys go on from line 4.
const head = "archive: /srv/archive\naccounts:\n  work:\n"

// workOK is a complete, valid account body (lines 4-6 after head).
const workOK = "    imap: {host: imap.example.com}\n    username: me\n    password_env: WORK_PW\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the whole error text
	}{
		// Syntax and file shape.
		{"empty file", "", "config.yaml: empty config: want at least archive and accounts (see the examples)"},
		{"only comments", "# nothing yet\n", "config.yaml: empty config: want at least archive and accounts (see the examples)"},
		{"syntax error", "archive: /a\naccounts: [\n", "config.yaml:2: invalid YAML: did not find expected node content"},
		{"tab indentation", "archive: /a\n\taccounts: {}\n", "config.yaml:2: invalid YAML: found a tab character that violates indentation"},
		{"two documents", "archive: /a\n---\narchive: /b\n", "config.yaml:2: more than one YAML document (---); a config is one document"},
		{"top level list", "- archive\n", "config.yaml:1: expected a mapping of keys (archive, accounts, ...) at the top, got a list"},

		// Strict decoding: unknown keys, wrong types, duplicates.
		{"unknown key with suggestion", head + "    imap: {hots: imap.example.com}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.hots: unknown key (did you mean \"host\"?)\n" +
				"config.yaml:4: accounts.work.imap.host: required"},
		{"unknown top-level key", "archive: /a\ncolour: blue\naccounts:\n  work:\n" + workOK,
			"config.yaml:2: colour: unknown key"},
		{"dash instead of underscore", head + workOK + "    max-bytes-per-day: 1GB\n",
			"config.yaml:7: accounts.work.max-bytes-per-day: unknown key (did you mean \"max_bytes_per_day\"?)"},
		{"misspelt secret key", head + "    imap: {host: h}\n    username: me\n    pasword: x\n",
			"config.yaml:3: accounts.work: no password: set one of password_command, password_env, password_file or password\n" +
				"config.yaml:6: accounts.work.pasword: unknown key (did you mean \"password\"?)"},
		{"port not a number", head + "    imap: {host: h, port: imaps}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.port: expected an integer, got \"imaps\""},
		{"port quoted", head + "    imap: {host: h, port: \"993\"}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.port: expected an integer, got \"993\""},
		{"yes is not a bool", head + "    pop3: {host: h}\n    username: me\n    password_env: X\n    delete: yes\n",
			"config.yaml:7: accounts.work.delete: expected true or false, got \"yes\""},
		{"server as a string", head + "    imap: imap.example.com\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap: expected a mapping like {host: imap.example.com}, got \"imap.example.com\""},
		{"include not a list", head + workOK + "    folders: {include: INBOX}\n",
			"config.yaml:7: accounts.work.folders.include: expected a list, got \"INBOX\""},
		{"timeout without unit", head + "    imap: {host: h, timeout: 60}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.timeout: expected a duration like \"60s\", \"5m\" or \"1h30m\", got \"60\""},
		{"bad size", head + workOK + "    max_bytes_per_day: lots\n",
			"config.yaml:7: accounts.work.max_bytes_per_day: expected a size like \"500k\", \"10MB\" or \"2.5GB\", got \"lots\""},
		{"missing value", head + "    imap: {host: h}\n    username:\n    password_env: X\n",
			"config.yaml:5: accounts.work.username: missing value (expected a string)"},
		{"boolean as a string", head + "    imap: {host: h}\n    username: true\n    password_env: X\n",
			"config.yaml:5: accounts.work.username: expected a string, got \"true\""},
		{"duplicate key", head + "    imap: {host: h}\n    username: me\n    username: you\n    password_env: X\n",
			"config.yaml:6: accounts.work.username: duplicate key (first at line 5)"},
		{"duplicate account", head + workOK + "  work:\n" + workOK,
			"config.yaml:7: accounts.work: duplicate key (first at line 3)"},
		{"custom tag", head + "    imap: {host: !vault h}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.host: expected a string, got a value tagged !vault"},
		{"accounts as a list", "archive: /a\naccounts: [work]\n",
			"config.yaml:2: accounts: expected a mapping, got a list"},

		// Validation of accounts and servers.
		{"archive required", "accounts:\n  work:\n" + workOK,
			"config.yaml: archive: required: the directory that holds the archive"},
		{"no accounts", "archive: /a\naccounts: {}\n",
			"config.yaml:2: accounts: no accounts: define at least one"},
		{"concurrency zero", "archive: /a\nconcurrency: 0\naccounts:\n  work:\n" + workOK,
			"config.yaml:2: concurrency: must be at least 1, got 0"},
		{"bad account name", "archive: /a\naccounts:\n  my work:\n" + workOK,
			"config.yaml:3: accounts.my work: bad account name \"my work\": a name is letters, digits, \".\", \"_\", \"@\", \"+\" and \"-\", starting with a letter or digit"},
		{"no server", head + "    username: me\n    password_env: X\n",
			"config.yaml:3: accounts.work: needs an imap or a pop3 server"},
		{"both servers", head + workOK + "    pop3: {host: h}\n",
			"config.yaml:7: accounts.work.pop3: an account has one server: set imap or pop3, not both"},
		{"host required", head + "    imap: {port: 993}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.host: required"},
		{"host with port", head + "    imap: {host: \"imap.example.com:993\"}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.host: \"imap.example.com:993\": give the port as port, not in host"},
		{"bad security", head + "    imap: {host: h, security: ssl}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.security: \"ssl\" is not valid (want tls, starttls or none)"},
		{"port out of range", head + "    imap: {host: h, port: 99999}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.port: must be 1..65535, got 99999"},
		{"port zero", head + "    imap: {host: h, port: 0}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.port: must be 1..65535, got 0"},
		{"timeout zero", head + "    imap: {host: h, timeout: 0s}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.timeout: must be more than 0"},
		{"ca_file without tls", head + "    imap: {host: localhost, security: none, ca_file: /ca.pem}\n    username: me\n    password_env: X\n",
			"config.yaml:4: accounts.work.imap.ca_file: only with security tls or starttls"},
		{"username required", head + "    imap: {host: h}\n    password_env: X\n",
			"config.yaml:3: accounts.work.username: required"},
		{"no secret", head + "    imap: {host: h}\n    username: me\n",
			"config.yaml:3: accounts.work: no password: set one of password_command, password_env, password_file or password"},
		{"two secrets", head + workOK + "    password_command: pass show x\n",
			"config.yaml:3: accounts.work: more than one secret source (password_env, password_command): keep one"},
		{"empty secret", head + "    imap: {host: h}\n    username: me\n    password_file: \"\"\n",
			"config.yaml:6: accounts.work.password_file: empty: give it a value or remove it"},
		{"oauth without token", head + "    imap: {host: h}\n    username: me\n    auth: xoauth2\n",
			"config.yaml:3: accounts.work: no token: set token_command (or a password_command that prints the token)"},
		{"token_command without oauth", head + "    imap: {host: h}\n    username: me\n    token_command: get-token\n",
			"config.yaml:6: accounts.work.token_command: only with auth xoauth2 or oauthbearer"},
		{"password_env with dollar", head + "    imap: {host: h}\n    username: me\n    password_env: $WORK_PW\n",
			"config.yaml:6: accounts.work.password_env: \"$WORK_PW\" is not an environment variable name (write the name, not $NAME or the value)"},
		{"imap auth", head + workOK + "    auth: apop\n",
			"config.yaml:7: accounts.work.auth: \"apop\" is not valid for imap (want login, plain, xoauth2 or oauthbearer)"},
		{"pop3 auth", head + "    pop3: {host: h}\n    username: me\n    password_env: X\n    auth: oauthbearer\n",
			"config.yaml:7: accounts.work.auth: \"oauthbearer\" is not valid for pop3 (want user, apop, plain or xoauth2)"},
		{"delete on imap", head + workOK + "    delete: true\n",
			"config.yaml:7: accounts.work.delete: only for pop3 accounts; IMAP mail is deleted by a cleanup job"},
		{"delete_after on imap", head + workOK + "    delete_after: 30d\n",
			"config.yaml:7: accounts.work.delete_after: only for pop3 accounts; IMAP mail is deleted by a cleanup job"},
		{"delete and delete_after", head + "    pop3: {host: h}\n    username: me\n    password_env: X\n    delete: true\n    delete_after: 30d\n",
			"config.yaml:8: accounts.work.delete_after: delete and delete_after are both set: keep delete (right after archiving) or delete_after (once this old)"},
		{"delete_after zero", head + "    pop3: {host: h}\n    username: me\n    password_env: X\n    delete_after: 0d\n",
			"config.yaml:7: accounts.work.delete_after: must be more than 0 (use delete: true to delete right after archiving)"},
		{"bad age", head + "    pop3: {host: h}\n    username: me\n    password_env: X\n    delete_after: 30\n",
			"config.yaml:7: accounts.work.delete_after: age \"30\": no unit (want h, d, w, m (months) or y, as in \"30d\")"},
		{"connections zero", head + workOK + "    connections: 0\n",
			"config.yaml:7: accounts.work.connections: must be at least 1, got 0"},
		{"pop3 connections", head + "    pop3: {host: h}\n    username: me\n    password_env: X\n    connections: 2\n",
			"config.yaml:7: accounts.work.connections: must be 1 for pop3: the server locks the mailbox for one session (RFC 1939 4)"},
		{"pop3 folders", head + "    pop3: {host: h}\n    username: me\n    password_env: X\n    folders: [INBOX]\n",
			"config.yaml:7: accounts.work.folders: only for imap accounts: pop3 has a single mailbox"},
		{"empty folder pattern", head + workOK + "    folders: {exclude: [Junk, \"\"]}\n",
			"config.yaml:7: accounts.work.folders.exclude[1]: empty folder pattern"},
		{"control character in pattern", head + workOK + "    folders: [\"IN\\tBOX\"]\n",
			"config.yaml:7: accounts.work.folders[0]: folder pattern \"IN\\tBOX\" contains a control character"},
		{"folder_map wildcard", head + workOK + "    folder_map: {\"Old*\": New}\n",
			"config.yaml:7: accounts.work.folder_map.Old*: \"Old*\": only a trailing \"/*\" may be used as a wildcard"},
		{"folder_map subtree to name", head + workOK + "    folder_map: {\"Old/*\": New}\n",
			"config.yaml:7: accounts.work.folder_map.Old/*: \"Old/*\" maps to \"New\": a subtree (\"/*\") must map to a subtree"},
		{"negative size", head + workOK + "    max_bytes_per_second: -1\n",
			"config.yaml:7: accounts.work.max_bytes_per_second: must not be negative"},
		{"bare tilde", "archive: ~\naccounts:\n  work:\n" + workOK,
			"config.yaml:1: archive: a bare ~ is YAML for \"no value\": write \"~\" in quotes for the home directory"},
		{"tilde user", "archive: ~bob/mail\naccounts:\n  work:\n" + workOK,
			"config.yaml:1: archive: ~user is not supported: write the whole path"},

		// Jobs.
		{"job without kind", head + workOK + "jobs:\n  nightly: {schedule: \"@daily\"}\n",
			"config.yaml:8: jobs.nightly: needs one of backup, migrate, cleanup or export"},
		{"job with two kinds", head + workOK + "jobs:\n  j: {backup: [work], export: {account: work, format: eml, out: /x}}\n",
			"config.yaml:8: jobs.j: has backup and export: a job does one of them"},
		{"empty job", head + workOK + "jobs:\n  j:\n",
			"config.yaml:8: jobs.j: needs one of backup, migrate, cleanup or export"},
		{"unknown job key", head + workOK + "jobs:\n  j: {backup: [work], shedule: \"@daily\"}\n",
			"config.yaml:8: jobs.j.shedule: unknown key (did you mean \"schedule\"?)"},
		{"unknown account in backup", head + workOK + "jobs:\n  j:\n    backup:\n      - work\n      - wrok\n",
			"config.yaml:11: jobs.j.backup[1]: unknown account \"wrok\" (did you mean \"work\"?)"},
		{"account listed twice", head + workOK + "jobs:\n  j: {backup: [work, work]}\n",
			"config.yaml:8: jobs.j.backup[1]: account \"work\" listed twice"},
		{"empty backup", head + workOK + "jobs:\n  j: {backup: []}\n",
			"config.yaml:8: jobs.j.backup: lists no accounts"},
		{"bad cron", head + workOK + "jobs:\n  nightly: {schedule: \"0 25 * * *\", backup: [work]}\n",
			"config.yaml:8: jobs.nightly.schedule: bad schedule \"0 25 * * *\": end of range (25) above maximum (23): 25"},
		{"cron with six fields", head + workOK + "jobs:\n  nightly: {schedule: \"0 0 3 * * *\", backup: [work]}\n",
			"config.yaml:8: jobs.nightly.schedule: bad schedule \"0 0 3 * * *\": expected exactly 5 fields, found 6: [0 0 3 * * *]"},
		{"unknown descriptor", head + workOK + "jobs:\n  nightly: {schedule: \"@nightly\", backup: [work]}\n",
			"config.yaml:8: jobs.nightly.schedule: bad schedule \"@nightly\": unrecognized descriptor: @nightly"},
		{"every too short", head + workOK + "jobs:\n  often: {schedule: \"@every 10ms\", backup: [work]}\n",
			"config.yaml:8: jobs.often.schedule: bad schedule \"@every 10ms\": @every wants a duration of at least 1s, like \"@every 6h\""},
		{"TZ in schedule", head + workOK + "jobs:\n  nightly: {schedule: \"TZ=UTC 0 3 * * *\", backup: [work]}\n",
			"config.yaml:8: jobs.nightly.schedule: bad schedule \"TZ=UTC 0 3 * * *\": give the time zone with the job's timezone key, not in the schedule"},
		{"bad time zone", head + workOK + "jobs:\n  nightly: {schedule: \"@daily\", timezone: Europe/Berln, backup: [work]}\n",
			"config.yaml:8: jobs.nightly.timezone: unknown time zone \"Europe/Berln\" (want an IANA name like Europe/Berlin)"},
		{"negative jitter", head + workOK + "jobs:\n  nightly: {schedule: \"@daily\", jitter: -5m, backup: [work]}\n",
			"config.yaml:8: jobs.nightly.jitter: must not be negative"},
		{"migrate into pop3", head + workOK + "  isp:\n    pop3: {host: h}\n    username: me\n    password_env: X\njobs:\n  move: {migrate: {from: work, to: isp}}\n",
			"config.yaml:12: jobs.move.migrate.to: account \"isp\" is pop3; mail can only be migrated into an imap account"},
		{"migrate into itself", head + workOK + "jobs:\n  move: {migrate: {from: work, to: work}}\n",
			"config.yaml:8: jobs.move.migrate.to: same account as from"},
		{"migrate without from", head + workOK + "jobs:\n  move:\n    migrate: {to: work}\n",
			"config.yaml:9: jobs.move.migrate.from: required: an account name"},
		{"cleanup on pop3", head + "    pop3: {host: h}\n    username: me\n    password_env: X\njobs:\n  trim: {cleanup: {account: work, older_than: 1y}}\n",
			"config.yaml:8: jobs.trim.cleanup.account: account \"work\" is pop3; cleanup works on imap accounts (pop3 accounts use delete_after)"},
		{"cleanup without criteria", head + workOK + "jobs:\n  trim:\n    cleanup: {account: work}\n",
			"config.yaml:9: jobs.trim.cleanup: needs older_than, before or larger_than: cleanup never deletes everything"},
		{"cleanup bad age", head + workOK + "jobs:\n  trim:\n    cleanup: {account: work, older_than: 2 years}\n",
			"config.yaml:9: jobs.trim.cleanup.older_than: age \"2 years\": write the number and the unit together: h, d, w, m (months) or y, as in \"30d\""},
		{"cleanup bad date", head + workOK + "jobs:\n  trim:\n    cleanup: {account: work, before: 2024-02-30}\n",
			"config.yaml:9: jobs.trim.cleanup.before: want a date like 2024-12-31, got \"2024-02-30\""},
		{"cleanup bad by", head + workOK + "jobs:\n  trim:\n    cleanup: {account: work, older_than: 1y, by: date}\n",
			"config.yaml:9: jobs.trim.cleanup.by: \"date\" is not valid (want internaldate or date-header)"},
		{"cleanup bad size", head + workOK + "jobs:\n  trim:\n    cleanup: {account: work, larger_than: 10 parsecs}\n",
			"config.yaml:9: jobs.trim.cleanup.larger_than: expected a size like \"500k\", \"10MB\" or \"2.5GB\", got \"10 parsecs\""},
		{"export bad format", head + workOK + "jobs:\n  out:\n    export: {account: work, format: pst, out: /x}\n",
			"config.yaml:9: jobs.out.export.format: \"pst\" is not valid (want mbox, maildir or eml)"},
		{"export missing format and out", head + workOK + "jobs:\n  out:\n    export: {account: work}\n",
			"config.yaml:9: jobs.out.export.format: required (want mbox, maildir or eml)\n" +
				"config.yaml:9: jobs.out.export.out: required: the directory to write to"},
		{"export unknown account", head + workOK + "jobs:\n  out:\n    export: {account: home, format: eml, out: /x}\n",
			"config.yaml:9: jobs.out.export.account: unknown account \"home\""},

		// Everything at once, in line order.
		{"many problems", "archive: /a\naccounts:\n  work:\n    imap: {host: h, security: ssl}\n    password_env: X\n  isp:\n    pop3: {host: h, port: 0}\n    username: me\njobs:\n  nightly: {schedule: \"@daily\", backup: [work, home]}\n",
			"config.yaml:3: accounts.work.username: required\n" +
				"config.yaml:4: accounts.work.imap.security: \"ssl\" is not valid (want tls, starttls or none)\n" +
				"config.yaml:6: accounts.isp: no password: set one of password_command, password_env, password_file or password\n" +
				"config.yaml:7: accounts.isp.pop3.port: must be 1..65535, got 0\n" +
				"config.yaml:10: jobs.nightly.backup[1]: unknown account \"home\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tt.yaml), "config.yaml")
			if err == nil {
				t.Fatalf("Parse() = %+v, nil; want error\n%s", c, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse() error =\n%s\nwant\n%s", got, tt.want)
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
				t.Errorf("Parse() error is %T, want *Error with problems", err)
			}
			if c != nil {
				t.Errorf("Parse() config = %+v, want nil with an error", c)
			}
		})
	}
}

func TestParseErrorIsInspectable(t *testing.T) {
	_, _, err := Parse([]byte(head+"    imap: {host: h, port: 0}\n    username: me\n"), "/etc/mailkeep.yaml")
	var p Problem
	if !errors.As(err, &p) {
		t.Fatalf("errors.As(%v, *Problem) = false", err)
	}
	want := Problem{File: "/etc/mailkeep.yaml", Line: 3, Path: "accounts.work", Msg: "no password: set one of password_command, password_env, password_file or password"}
	if p != want {
		t.Errorf("first problem = %#v, want %#v", p, want)
	}
}

func TestParseNoFileName(t *testing.T) {
	_, _, err := Parse([]byte("archive: /a\naccounts: {}\n"), "")
	if got, want := err.Error(), "line 2: accounts: no accounts: define at least one"; got != want {
		t.Errorf("Parse() error = %q, want %q", got, want)
	}
}

func TestParseTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("archive: /a\naccounts:\n")
	for i := range maxProblems + 50 {
		b.WriteString("  a" + strconv.Itoa(i) + ": {imap: {host: h}, username: u}\n")
	}
	_, _, err := Parse([]byte(b.String()), "config.yaml")
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse() error = %v, want *Error", err)
	}
	if len(cerr.Problems) != maxProblems || cerr.Omitted != 50 {
		t.Errorf("Parse() reported %d problems and omitted %d, want %d and 50", len(cerr.Problems), cerr.Omitted, maxProblems)
	}
	if !strings.HasSuffix(err.Error(), "\n... and 50 more problems") {
		t.Errorf("Parse() error does not end with the omitted count: ...%s", err.Error()[len(err.Error())-60:])
	}
}
