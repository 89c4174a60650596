package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/mailkeep/mailkeep/internal/namespace"
)

// Defaults for keys left out of the file.
const (
	DefaultConcurrency     = 4                // concurrency: accounts at once
	DefaultConnections     = 4                // connections per IMAP account
	DefaultPOP3Connections = 1                // RFC 1939 4: the server locks the maildrop for one session
	DefaultTimeout         = 60 * time.Second // timeout of a server
	DefaultMaxMessageSize  = 256 << 20        // max_message_size of an IMAP account
	DefaultSecurity        = "tls"
)

// Config is a parsed and validated config file.
type Config struct {
	Path        string // file it came from, as given to Load or Parse
	Archive     string // archive directory, "~" expanded, relative paths resolved against the file's directory
	Concurrency int    // accounts worked on at once (key concurrency), default 4
	Compression string // zstd effort for new messages (key compression): fast, default ("" = default) or better
	Accounts    map[string]*Account
	Jobs        map[string]*Job
	Offsite     *Offsite    // key offsite: where push and pull keep a copy; nil = none (offsite.go)
	Encryption  *Encryption // key encryption: age keys for new data; nil = stored unencrypted (offsite.go)
	Serve       *Serve      // key serve: the read-only IMAP server over the archive; nil = none (serve.go)
}

// AccountNames returns the names of all accounts, sorted.
func (c *Config) AccountNames() []string { return sortedKeys(c.Accounts) }

// JobNames returns the names of all jobs, sorted.
func (c *Config) JobNames() []string { return sortedKeys(c.Jobs) }

func sortedKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Account is one mailbox on an IMAP or POP3 server.
//
// Its String, GoString and LogValue methods never show Password; String
// and LogValue show only which kind of secret source is configured.
type Account struct {
	Name     string
	IMAP     *Server // exactly one of IMAP and POP3 is set
	POP3     *Server
	Username string
	// Auth is the login mechanism; "" picks one automatically.
	// IMAP: login, plain, xoauth2, oauthbearer. POP3: user, apop, plain, xoauth2.
	Auth string

	// Exactly one secret source is set, except that an account with auth
	// xoauth2 or oauthbearer may use TokenCommand alone. Use Secret.
	Password        string // inline (key password); discouraged
	PasswordEnv     string // name of an environment variable (key password_env)
	PasswordFile    string // file holding the secret (key password_file), "~" expanded
	PasswordCommand string // run with sh -c; stdout is the secret (key password_command)
	TokenCommand    string // run with sh -c; stdout is an OAuth2 access token (key token_command)

	Folders     FolderFilter      // which folders to back up (key folders)
	Delete      bool              // POP3: delete each message once archived (key delete)
	SkipBackup  bool              // key backup: false: a plain 'mailkeep backup' (no account named) leaves it out
	DeleteAfter Age               // POP3: delete archived messages this old (key delete_after)
	Connections int               // max connections to the server (key connections): IMAP default 4, POP3 always 1
	FolderMap   map[string]string // when writing into this account: source folder -> folder here (key folder_map)
	// Namespaces are the IMAP namespaces backup, migrate and cleanup cover
	// (key namespaces); nil: the personal namespace only. Cleanup deletes
	// in the personal namespace only, whatever this says.
	Namespaces namespace.Wanted

	MaxBytesPerDay    int64 // download limit per day, 0 = none (key max_bytes_per_day)
	MaxBytesPerSecond int64 // download rate limit, 0 = none (key max_bytes_per_second)
	MaxMessageSize    int64 // IMAP: largest message accepted from the server (key max_message_size)

	Line int // YAML line of the account's name, for messages

	dir              string // the config file's directory: where commands run
	passwordLine     int    // line of an inline password, for the permission warning
	passwordFileLine int    // line of password_file, for the permission warning
}

// Protocol returns "imap" or "pop3".
func (a *Account) Protocol() string {
	if a.POP3 != nil {
		return "pop3"
	}
	return "imap"
}

// Server returns the account's IMAP or POP3 server.
func (a *Account) Server() *Server {
	if a.POP3 != nil {
		return a.POP3
	}
	return a.IMAP
}

// UsesOAuth reports whether the account logs in with an OAuth2 token.
func (a *Account) UsesOAuth() bool { return a.Auth == "xoauth2" || a.Auth == "oauthbearer" }

// Server is where an account's mail is.
type Server struct {
	Host          string
	Port          int           // default: IMAP 993 (tls) or 143; POP3 995 (tls) or 110
	Security      string        // tls (default), starttls or none
	TLSSkipVerify bool          // key tls_skip_verify: do not check the certificate
	CAFile        string        // key ca_file: PEM file of extra trusted roots, "~" expanded
	Fingerprint   string        // key tls_fingerprint: "sha256:HEX" of the one certificate trusted (pinned)
	Timeout       time.Duration // key timeout: dial and I/O timeout, default 60s
}

// Addr returns "host:port", with IPv6 addresses in brackets.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Job is one entry under jobs: exactly one of Backup, Migrate, Cleanup
// and Export is set.
type Job struct {
	Name      string
	Schedule  string        // cron, 5 fields, or @hourly, @daily, @weekly, @monthly, @yearly, @every DURATION; "" = only when run by name
	TimeZone  string        // key timezone: IANA name for Schedule and dates; "" = local time
	Jitter    time.Duration // key jitter: random delay up to this much before each scheduled run
	OnFailure string        // key on_failure: shell command run (sh -c) when the job fails
	Push      bool          // key push: run 'mailkeep push' after the job (needs offsite)

	Backup  []string    // key backup: account names
	Migrate *MigrateJob // key migrate
	Cleanup *CleanupJob // key cleanup
	Export  *ExportJob  // key export

	// Cron is Schedule parsed, in Location; nil without a schedule.
	Cron cron.Schedule
	// Location is TimeZone loaded, or time.Local.
	Location *time.Location

	Line int // YAML line of the job's name
}

// Kind returns "backup", "migrate", "cleanup" or "export" (validation
// makes sure exactly one is set).
func (j *Job) Kind() string {
	switch {
	case j.Backup != nil:
		return "backup"
	case j.Migrate != nil:
		return "migrate"
	case j.Cleanup != nil:
		return "cleanup"
	case j.Export != nil:
		return "export"
	}
	return ""
}

// Accounts returns the names of the accounts the job touches.
func (j *Job) Accounts() []string {
	switch {
	case j.Backup != nil:
		return append([]string(nil), j.Backup...)
	case j.Migrate != nil:
		return []string{j.Migrate.From, j.Migrate.To}
	case j.Cleanup != nil:
		return []string{j.Cleanup.Account}
	case j.Export != nil:
		return []string{j.Export.Account}
	}
	return nil
}

// MigrateJob copies everything in one account into another (IMAP) account.
type MigrateJob struct {
	From, To string
	Folders  FolderFilter // source folders to copy; all by default
}

// CleanupJob archives, verifies, then deletes matching mail on an IMAP server.
type CleanupJob struct {
	Account    string
	OlderThan  Age          // key older_than
	Before     time.Time    // key before: YYYY-MM-DD, midnight at the start of that day in the job's time zone
	LargerThan int64        // key larger_than: bytes
	Folders    FolderFilter // key folders (list or {include, exclude}) plus key exclude
	By         string       // key by: "internaldate" (default) or "date-header", the date older_than and before look at
}

// ExportJob writes archived mail of one account out as files.
type ExportJob struct {
	Account        string
	Format         string // mbox, maildir or eml
	Out            string // directory, "~" expanded
	Folders        FolderFilter
	IncludeDeleted bool // key include_deleted: also mail gone from the server
}

// Load reads, decodes and validates the config file at path. Besides
// what Parse warns about, it warns when the file is readable by group or
// others and holds an inline password. A file that cannot be read gives
// the *fs.PathError, wrapped; a file with problems gives an *Error.
func Load(path string) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	c, warnings, err := Parse(data, path)
	if err != nil {
		return nil, warnings, err
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err == nil {
			warnings = append(warnings, permissionWarnings(c, fi.Mode())...)
		}
		warnings = append(warnings, passwordFileWarnings(c)...)
	}
	return c, warnings, nil
}

func permissionWarnings(c *Config, mode fs.FileMode) []Warning {
	if mode.Perm()&0o044 == 0 {
		return nil
	}
	var ws []Warning
	for _, name := range c.AccountNames() {
		a := c.Accounts[name]
		if a.Password == "" {
			continue
		}
		p := Problem{File: c.Path, Line: a.passwordLine, Path: "accounts." + name + ".password",
			Msg: fmt.Sprintf("inline password in a file other users can read (mode %04o): chmod 600 the file, or use password_command", mode.Perm())}
		ws = append(ws, Warning(p.Error()))
	}
	return ws
}

// Parse decodes and validates a config file's contents; path is used in
// messages and to resolve relative paths. The error, if any, is an
// *Error listing every problem found.
func Parse(data []byte, path string) (c *Config, warnings []Warning, err error) {
	ps := &problems{file: path}
	root, ok := parseYAML(data, ps)
	if !ok {
		return nil, nil, ps.err()
	}
	d := newDecoder(ps)
	c = &Config{Path: path}
	d.config(root, c)
	if len(ps.list) < maxProblems {
		ps.validating = true
		validate(d, c)
	}
	if err := ps.err(); err != nil {
		return nil, ps.warnings, err
	}
	return c, ps.warnings, nil
}

// parseYAML turns data into the top-level mapping node. It reports
// syntax errors, more than one document and an empty file.
func parseYAML(data []byte, ps *problems) (root *yaml.Node, ok bool) {
	defer func() {
		// yaml.v3 has panicked on malformed input before; a config file
		// must never crash the program.
		if r := recover(); r != nil {
			ps.add(0, "", "invalid YAML: %v", r)
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.add(0, "", "empty config: want at least archive and accounts (see the examples)")
			return nil, false
		}
		line, msg := yamlError(err)
		ps.add(line, "", "invalid YAML: %s", msg)
		return nil, false
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		ps.add(next.Line, "", "more than one YAML document (---); a config is one document")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		line, msg := yamlError(err)
		ps.add(line, "", "invalid YAML: %s", msg)
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		ps.add(0, "", "empty config: want at least archive and accounts (see the examples)")
		return nil, false
	}
	root = doc.Content[0]
	if isNull(root) {
		ps.add(0, "", "empty config: want at least archive and accounts (see the examples)")
		return nil, false
	}
	if resolve(root).Kind != yaml.MappingNode {
		ps.add(root.Line, "", "expected a mapping of keys (archive, accounts, ...) at the top, got %s", describe(resolve(root), false))
		return nil, false
	}
	return root, true
}
