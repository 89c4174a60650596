package config

import (
	"context"
	"strings"
	"testing"
)

const serveBase = "archive: /tmp/a\naccounts:\n  a: {imap: {host: h}, username: u, password_env: X}\n"

func TestServeBlock(t *testing.T) {
	c, _, err := Parse([]byte(serveBase+"serve: {username: me, password_env: MK_SERVE_PW}\n"), "/etc/m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve == nil || c.Serve.Listen != DefaultServeListen || c.Serve.Username != "me" {
		t.Fatalf("Serve = %+v", c.Serve)
	}
	t.Setenv("MK_SERVE_PW", "s3cret")
	if pw, err := c.Serve.Secret(context.Background()); err != nil || pw != "s3cret" {
		t.Errorf("Secret() = %q, %v", pw, err)
	}
	t.Setenv("MK_SERVE_PW", "")
	if _, err := c.Serve.Secret(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "serve: password_env:") {
		t.Errorf("Secret() with the variable empty = %v, want an error naming serve.password_env", err)
	}
	for _, tc := range []struct{ name, serve, want string }{
		{"NoUsername", "serve: {password: x}", "serve.username: required"},
		{"NoPassword", "serve: {username: me}", "serve: no password"},
		{"TwoPasswords", "serve: {username: me, password: x, password_env: Y}", "more than one secret source"},
		{"Beyond", "serve: {username: me, password_env: Y, listen: '0.0.0.0:1143'}", "reachable from other machines: set tls_cert and tls_key"},
		{"HalfTLS", "serve: {username: me, password_env: Y, tls_cert: c.pem}", "tls_cert and tls_key go together"},
		{"BadListen", "serve: {username: me, password_env: Y, listen: nowhere}", "want host:port"},
		{"UnknownKey", "serve: {username: me, password_env: Y, port: 1143}", "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(serveBase+tc.serve+"\n"), "/etc/m.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%s) = %v, want %q", tc.serve, err, tc.want)
			}
		})
	}
	c, _, err = Parse([]byte(serveBase+"serve: {username: me, password_env: Y, listen: '[::]:993', tls_cert: c.pem, tls_key: k.pem}\n"), "/etc/m.yaml")
	if err != nil || c.Serve.TLSCert != "/etc/c.pem" || c.Serve.TLSKey != "/etc/k.pem" {
		t.Errorf("with TLS beyond loopback: %+v, %v", c.Serve, err)
	}
}
