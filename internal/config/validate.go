package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Validation checks what decoding cannot: required keys, values from a
// fixed set, ranges, and references between jobs and accounts. It also
// fills in defaults and expands paths. Every problem is reported; none
// stops the others from being found.

// nameRE is what account and job names may look like: they appear on
// the command line, in paths of messages and in the archive's index.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]*$`)

const nameRule = `a name is letters, digits, ".", "_", "@", "+" and "-", starting with a letter or digit`

var (
	securities = []string{"tls", "starttls", "none"}
	imapAuths  = []string{"login", "plain", "xoauth2", "oauthbearer"}
	pop3Auths  = []string{"user", "apop", "plain", "xoauth2"}
	formats    = []string{"mbox", "maildir", "eml"}
	cleanupBy  = []string{"internaldate", "date-header"}
)

func validate(d *decoder, c *Config) {
	dir := ""
	if c.Path != "" {
		dir = filepath.Dir(c.Path)
	}
	if c.Archive == "" {
		d.at("archive", "required: the directory that holds the archive")
	} else {
		c.Archive = d.expandPath("archive", c.Archive, dir)
	}
	if c.Concurrency < 1 {
		d.at("concurrency", "must be at least 1, got %d", c.Concurrency)
	}
	switch c.Compression {
	case "", "fast", "default", "better":
	default:
		d.at("compression", "must be fast, default or better, got %q", c.Compression)
	}
	if len(c.Accounts) == 0 {
		d.at("accounts", "no accounts: define at least one")
	}
	for _, name := range c.AccountNames() {
		d.accountRules(c.Accounts[name], "accounts."+name, dir)
	}
	for _, name := range c.JobNames() {
		d.jobRules(c, c.Jobs[name], "jobs."+name, dir)
	}
	d.offsiteRules(c, dir)
	d.serveRules(c, dir)
}

func (d *decoder) accountRules(a *Account, p, dir string) {
	a.dir = dir
	if !nameRE.MatchString(a.Name) {
		d.at(p, "bad account name %s: %s", quote(a.Name), nameRule)
	}
	switch {
	case a.IMAP == nil && a.POP3 == nil:
		d.at(p, "needs an imap or a pop3 server")
	case a.IMAP != nil && a.POP3 != nil:
		d.at(p+".pop3", "an account has one server: set imap or pop3, not both")
	case a.IMAP != nil:
		d.serverRules(a.IMAP, p+".imap", "imap", dir)
	default:
		d.serverRules(a.POP3, p+".pop3", "pop3", dir)
	}
	pop3 := a.POP3 != nil && a.IMAP == nil

	if a.Username == "" {
		d.at(p+".username", "required")
	}
	auths := imapAuths
	if pop3 {
		auths = pop3Auths
	}
	if a.Auth != "" && !oneOf(a.Auth, auths) {
		d.at(p+".auth", "%s is not valid for %s (want %s)", quote(a.Auth), a.Protocol(), orList(auths))
	}
	d.secretRules(a, p, dir)

	if pop3 {
		if a.Delete && d.has(p+".delete_after") {
			d.at(p+".delete_after", "delete and delete_after are both set: keep delete (right after archiving) or delete_after (once this old)")
		} else if d.has(p+".delete_after") && a.DeleteAfter.IsZero() {
			d.at(p+".delete_after", "must be more than 0 (use delete: true to delete right after archiving)")
		}
	} else {
		for _, k := range []string{"delete", "delete_after"} {
			if d.has(p + "." + k) {
				d.at(p+"."+k, "only for pop3 accounts; IMAP mail is deleted by a cleanup job")
			}
		}
	}

	switch {
	case !d.has(p + ".connections"):
		a.Connections = DefaultConnections
		if pop3 {
			a.Connections = DefaultPOP3Connections
		}
	case a.Connections < 1:
		d.at(p+".connections", "must be at least 1, got %d", a.Connections)
	case pop3 && a.Connections > 1:
		d.at(p+".connections", "must be 1 for pop3: the server locks the mailbox for one session (RFC 1939 4)")
	}

	if pop3 {
		for _, k := range []string{"folders", "folder_map", "namespaces"} {
			if d.has(p + "." + k) {
				d.at(p+"."+k, "only for imap accounts: pop3 has a single mailbox")
			}
		}
	}
	for _, from := range sortedKeys(a.FolderMap) {
		if err := checkFolderMapEntry(from, a.FolderMap[from]); err != nil {
			d.at(p+".folder_map."+from, "%v", err)
		}
	}
	if a.MaxBytesPerDay < 0 {
		d.at(p+".max_bytes_per_day", "must not be negative")
	}
	if a.MaxBytesPerSecond < 0 {
		d.at(p+".max_bytes_per_second", "must not be negative")
	}
	switch {
	case !d.has(p + ".max_message_size"):
		a.MaxMessageSize = DefaultMaxMessageSize
	case a.MaxMessageSize < 1<<20:
		d.at(p+".max_message_size", "must be at least 1 MiB, got %d bytes", a.MaxMessageSize)
	}
}

// secretRules checks that the account has exactly one secret source.
func (d *decoder) secretRules(a *Account, p, dir string) {
	var set []string
	for _, s := range []struct{ key, val string }{
		{"password", a.Password},
		{"password_env", a.PasswordEnv},
		{"password_file", a.PasswordFile},
		{"password_command", a.PasswordCommand},
		{"token_command", a.TokenCommand},
	} {
		// A key that is present counts even if its value is empty or
		// failed to decode: "no password" would then be misleading.
		if d.has(p + "." + s.key) {
			set = append(set, s.key)
			if s.val == "" {
				d.at(p+"."+s.key, "empty: give it a value or remove it")
			}
		}
	}
	if a.TokenCommand != "" && !a.UsesOAuth() {
		d.at(p+".token_command", "only with auth xoauth2 or oauthbearer")
	}
	switch {
	case len(set) == 0 && a.UsesOAuth():
		d.at(p, "no token: set token_command (or a password_command that prints the token)")
	case len(set) == 0:
		d.at(p, "no password: set one of password_command, password_env, password_file or password")
	case len(set) > 1:
		d.at(p, "more than one secret source (%s): keep one", strings.Join(set, ", "))
	}
	if a.PasswordEnv != "" && !envNameRE.MatchString(a.PasswordEnv) {
		d.at(p+".password_env", "%s is not an environment variable name (write the name, not $NAME or the value)", quote(a.PasswordEnv))
	}
	if d.has(p + ".password") {
		a.passwordLine = d.line(p + ".password")
	}
	if a.PasswordFile != "" {
		a.passwordFileLine = d.line(p + ".password_file")
		a.PasswordFile = d.expandPath(p+".password_file", a.PasswordFile, dir)
	}
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (d *decoder) serverRules(s *Server, p, proto, dir string) {
	s.Host = strings.TrimSuffix(strings.TrimPrefix(s.Host, "["), "]")
	switch {
	case s.Host == "":
		d.at(p+".host", "required")
	case strings.ContainsAny(s.Host, " \t/@"):
		d.at(p+".host", "%s is not a host name or address", quote(s.Host))
	case strings.Contains(s.Host, ":") && net.ParseIP(s.Host) == nil:
		d.at(p+".host", "%s: give the port as port, not in host", quote(s.Host))
	}
	if s.Security == "" && !d.has(p+".security") {
		s.Security = DefaultSecurity
	}
	if !oneOf(s.Security, securities) {
		d.at(p+".security", "%s is not valid (want %s)", quote(s.Security), orList(securities))
	}
	if !d.has(p + ".port") {
		s.Port = defaultPort(proto, s.Security)
	} else if s.Port < 1 || s.Port > 65535 {
		d.at(p+".port", "must be 1..65535, got %d", s.Port)
	}
	if !d.has(p + ".timeout") {
		s.Timeout = DefaultTimeout
	} else if s.Timeout <= 0 {
		d.at(p+".timeout", "must be more than 0")
	}
	if s.Security == "none" {
		for _, k := range []string{"tls_skip_verify", "ca_file", "tls_fingerprint"} {
			if d.has(p + "." + k) {
				d.at(p+"."+k, "only with security tls or starttls")
			}
		}
		if s.Host != "" && !isLoopback(s.Host) {
			d.warn(d.line(p+".security"), p+".security", "none: the password crosses the network unencrypted")
		}
	}
	if s.TLSSkipVerify && s.Security != "none" {
		d.warn(d.line(p+".tls_skip_verify"), p+".tls_skip_verify", "the server's certificate is not checked; prefer ca_file")
	}
	if s.CAFile != "" {
		s.CAFile = d.expandPath(p+".ca_file", s.CAFile, dir)
	}
	if s.Fingerprint != "" {
		if fp, err := ParseFingerprint(s.Fingerprint); err != nil {
			d.at(p+".tls_fingerprint", "%v", err)
		} else {
			s.Fingerprint = fp
		}
	}
}

func defaultPort(proto, security string) int {
	switch {
	case proto == "pop3" && security == "tls":
		return 995
	case proto == "pop3":
		return 110
	case security == "tls":
		return 993
	}
	return 143
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// expandPath expands a leading "~" and makes a relative path relative to
// dir, the config file's directory. Environment variables are left alone
// on purpose: a "$" in a path is kept as written, with a warning.
func (d *decoder) expandPath(p, value, dir string) string {
	if strings.Contains(value, "$") {
		d.warn(d.line(p), p, "%s: environment variables are not expanded in config values", quote(value))
	}
	switch {
	case value == "~" || strings.HasPrefix(value, "~/"):
		home, err := os.UserHomeDir()
		if err != nil {
			d.at(p, "cannot expand ~: %v", err)
			return value
		}
		return filepath.Join(home, value[1:])
	case strings.HasPrefix(value, "~"):
		d.at(p, "~user is not supported: write the whole path")
		return value
	case !filepath.IsAbs(value) && dir != "":
		return filepath.Join(dir, value)
	}
	return value
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// orList writes "a, b or c".
func orList(list []string) string {
	if len(list) < 2 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " or " + list[len(list)-1]
}

// loadLocation is time.LoadLocation for names from the config, where ""
// would silently mean UTC.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || strings.ContainsAny(name, "\x00\\") {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return time.LoadLocation(name)
}
