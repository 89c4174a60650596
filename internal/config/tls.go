package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSConfig returns the TLS settings for connecting to the server (for
// security tls and starttls): the host name to verify, the system roots
// plus the roots in ca_file, and no verification if tls_skip_verify is
// set. It reads ca_file, so errors name it.
func (s *Server) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         s.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: s.TLSSkipVerify, // the user asked for it; Parse warns
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
