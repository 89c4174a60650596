package imapconn

import (
	"crypto/tls"
)

// tlsConfig is o's TLS configuration with the server name filled in.
func tlsConfig(o *Options, host string) (*tls.Config, error) {
	cfg := o.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg, nil
}
