package config

import (
	"context"
	"net"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultServeListen is where `mailkeep serve` listens by default.
const DefaultServeListen = "127.0.0.1:1143"

// Serve configures `mailkeep serve`, the read-only IMAP server over the
// archive (key serve).
type Serve struct {
	Listen   string // key listen: host:port, default 127.0.0.1:1143
	Username string // key username: what the mail client logs in with
	Account  string // key account: serve only this archived account, at the top level
	TLSCert  string // key tls_cert: PEM certificate (chain); with tls_key, every connection is TLS
	TLSKey   string // key tls_key: PEM private key

	// The password, from one of password, password_env, password_file,
	// password_command (as for an account).
	secret Account
	Line   int
}

// Secret returns the password clients must log in with. Errors name the
// source, never the secret.
func (s *Serve) Secret(ctx context.Context) (string, error) {
	v, err := s.secret.Secret(ctx)
	if err != nil {
		return "", &serveSecretError{err}
	}
	return v, nil
}

// serveSecretError says "serve:" where the account code says
// "accounts.serve:".
type serveSecretError struct{ err error }

func (e *serveSecretError) Error() string {
	return strings.Replace(e.err.Error(), "accounts."+serveSecretName+":", "serve:", 1)
}
func (e *serveSecretError) Unwrap() error { return e.err }

const serveSecretName = "serve"

// Loopback reports whether host:port listens on this machine only.
func Loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (d *decoder) serve(n *yaml.Node, path string) *Serve {
	s := &Serve{Line: d.line(path)}
	s.secret.Name = serveSecretName
	str := func(dst *string, secret bool) fieldFunc {
		return func(v *yaml.Node, p string) { *dst = d.str(v, p, secret) }
	}
	d.mapping(n, path, map[string]fieldFunc{
		"listen":           str(&s.Listen, false),
		"username":         str(&s.Username, false),
		"account":          str(&s.Account, false),
		"tls_cert":         str(&s.TLSCert, false),
		"tls_key":          str(&s.TLSKey, false),
		"password":         str(&s.secret.Password, true),
		"password_env":     str(&s.secret.PasswordEnv, false),
		"password_file":    str(&s.secret.PasswordFile, false),
		"password_command": str(&s.secret.PasswordCommand, false),
	})
	return s
}

// serveRules checks the serve block: a listen address, a username, one
// password source, TLS both-or-neither, and no listening beyond this
// machine without TLS.
func (d *decoder) serveRules(c *Config, dir string) {
	s := c.Serve
	if s == nil {
		return
	}
	p := "serve"
	s.secret.dir = dir
	if s.Listen == "" {
		s.Listen = DefaultServeListen
	}
	if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
		d.at(p+".listen", "%s: want host:port, e.g. %s", quote(s.Listen), DefaultServeListen)
	}
	if s.Username == "" {
		d.at(p+".username", "required: what the mail client logs in with")
	}
	d.secretRules(&s.secret, p, dir)
	switch {
	case (s.TLSCert == "") != (s.TLSKey == ""):
		d.at(p, "tls_cert and tls_key go together")
	case s.TLSCert != "":
		s.TLSCert = d.expandPath(p+".tls_cert", s.TLSCert, dir)
		s.TLSKey = d.expandPath(p+".tls_key", s.TLSKey, dir)
	case s.Listen != "" && !Loopback(s.Listen):
		d.at(p+".listen", "%s is reachable from other machines: set tls_cert and tls_key, or listen on 127.0.0.1", quote(s.Listen))
	}
	if s.Account != "" && !nameRE.MatchString(s.Account) {
		d.at(p+".account", "%s is not an account name", quote(s.Account))
	}
}
