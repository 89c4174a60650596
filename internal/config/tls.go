package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLSConfig returns the TLS settings for connecting to the server (for
// security tls and starttls): the host name to verify, the system roots
// plus the roots in ca_file, and no verification if tls_skip_verify is
// set. With tls_fingerprint, the one certificate with that fingerprint is
// trusted and nothing else is checked. It reads ca_file, so errors name it.
func (s *Server) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         s.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: s.TLSSkipVerify, // the user asked for it; Parse warns
	}
	if s.Fingerprint != "" {
		want := s.Fingerprint
		cfg.InsecureSkipVerify = true // replaced by the pin below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &PinError{Want: want}
			}
			if got := Fingerprint(cs.PeerCertificates[0]); got != want {
				return &PinError{Got: got, Want: want}
			}
			return nil
		}
	}
	if s.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificates in it", s.CAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// PinError is a server certificate other than the pinned one.
type PinError struct{ Got, Want string }

func (e *PinError) Error() string {
	if e.Got == "" {
		return "the server sent no certificate; tls_fingerprint is " + e.Want
	}
	return fmt.Sprintf("the server's certificate is %s, not the tls_fingerprint %s", e.Got, e.Want)
}

// Fingerprint is a certificate's SHA-256 fingerprint as tls_fingerprint
// takes it: "sha256:" and 64 lower-case hex digits.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint checks a tls_fingerprint value and returns it in the
// form Fingerprint gives (colons and spaces dropped, lower case).
func ParseFingerprint(s string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	hexPart, ok := strings.CutPrefix(v, "sha256:")
	if !ok {
		return "", errors.New(`want "sha256:" and 64 hex digits (as mailkeep check --show-cert prints it)`)
	}
	hexPart = strings.NewReplacer(":", "", " ", "").Replace(hexPart)
	if b, err := hex.DecodeString(hexPart); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%q is not a SHA-256 fingerprint: want \"sha256:\" and 64 hex digits", s)
	}
	return "sha256:" + hexPart, nil
}
