package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// TestFingerprintPin: with tls_fingerprint the one certificate is trusted
// whatever its name and issuer; any other is refused with a PinError.
func TestFingerprintPin(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.other.example"},
		DNSNames: []string{"mail.other.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	fp := Fingerprint(leaf)
	upper, err := ParseFingerprint(strings.ToUpper(strings.Replace(fp, "sha256:", "SHA256:", 1)))
	if err != nil || upper != fp {
		t.Fatalf("ParseFingerprint(upper case) = %q, %v; want %q", upper, err, fp)
	}
	for _, tc := range []struct {
		pin string
		ok  bool
	}{{fp, true}, {"sha256:" + strings.Repeat("ab", 32), false}} {
		s := &Server{Host: "127.0.0.1", Fingerprint: tc.pin}
		cfg, err := s.TLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		err = tls.Client(raw, cfg).Handshake()
		raw.Close()
		var pe *PinError
		switch {
		case tc.ok && err != nil:
			t.Errorf("pinned to its own fingerprint: %v (the host name and issuer must not matter)", err)
		case !tc.ok && !errors.As(err, &pe):
			t.Errorf("pinned to another fingerprint: %v; want a PinError", err)
		}
	}
	for _, bad := range []string{"abc", "sha1:" + strings.Repeat("a", 40), "sha256:xyz", "sha256:" + strings.Repeat("a", 62)} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", bad)
		}
	}
}

func TestMaxMessageSize(t *testing.T) {
	c, _ := mustParse(t, `archive: /a
accounts:
  dflt: {imap: {host: a.example}, username: u, password_env: P}
  big: {imap: {host: a.example}, username: u, password_env: P, max_message_size: 1GiB}
  pinned: {imap: {host: a.example, tls_fingerprint: "SHA256:AB:`+strings.Repeat("ab", 31)+`"}, username: u, password_env: P}
`, "config.yaml")
	if got := c.Accounts["dflt"].MaxMessageSize; got != DefaultMaxMessageSize {
		t.Errorf("default max_message_size = %d, want %d", got, DefaultMaxMessageSize)
	}
	if got := c.Accounts["big"].MaxMessageSize; got != 1<<30 {
		t.Errorf("max_message_size 1GiB = %d", got)
	}
	if got := c.Accounts["pinned"].IMAP.Fingerprint; got != "sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("tls_fingerprint = %q, want it normalised", got)
	}
	for _, bad := range []string{"max_message_size: 100KB", "max_message_size: -1"} {
		_, _, err := Parse([]byte("archive: /a\naccounts:\n  x: {imap: {host: a.example}, username: u, password_env: P, "+bad+"}\n"), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), "accounts.x.max_message_size") {
			t.Errorf("%s: error %v, want one naming accounts.x.max_message_size", bad, err)
		}
	}
}
