package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

// showCert prints the certificate chain the account's server presents,
// each certificate's SHA-256 fingerprint, whether the configured trust
// (system roots and ca_file, or tls_fingerprint) accepts it, and the chain
// as PEM for ca_file. It logs in to nothing.
func (g *globals) showCert(ctx context.Context, a *config.Account) error {
	s := a.Server()
	if s.Security == "none" {
		return fmt.Errorf("%s: security: none: the server sends no certificate", a.Name)
	}
	trust, err := s.TLSConfig()
	if err != nil {
		return fmt.Errorf("accounts.%s: %w", a.Name, err)
	}
	var state *tls.ConnectionState
	probe := trust.Clone()
	probe.InsecureSkipVerify = true // look at whatever it sends; judged below
	probe.VerifyConnection = func(cs tls.ConnectionState) error {
		state = &cs
		return nil
	}
	if a.Protocol() == "imap" {
		err = imapconn.Probe(ctx, &imapconn.Options{Addr: s.Addr(), Security: s.Security, TLSConfig: probe, Timeout: s.Timeout})
	} else {
		var c *pop3.Client
		if c, err = pop3.Dial(ctx, s.Addr(), &pop3.Options{Security: s.Security, TLSConfig: probe, Timeout: s.Timeout}); err == nil {
			c.Close()
		}
	}
	if state == nil || len(state.PeerCertificates) == 0 {
		if err == nil {
			err = errors.New("the server sent no certificate")
		}
		return fmt.Errorf("%s: %w", a.Name, err)
	}
	chain := state.PeerCertificates
	w := g.stdout
	fmt.Fprintf(w, "%s: %s %s: %d certificate(s)\n", termsafe.String(a.Name), a.Protocol(), s.Addr(), len(chain))
	for i, c := range chain {
		fmt.Fprintf(w, "  [%d] subject: %s\n", i, termsafe.String(c.Subject.String()))
		fmt.Fprintf(w, "      issuer:  %s\n", termsafe.String(c.Issuer.String()))
		fmt.Fprintf(w, "      valid:   %s to %s\n", c.NotBefore.UTC().Format("2006-01-02"), c.NotAfter.UTC().Format("2006-01-02"))
		if names := append(append([]string{}, c.DNSNames...), ipStrings(c.IPAddresses)...); len(names) > 0 {
			fmt.Fprintf(w, "      names:   %s\n", termsafe.String(strings.Join(names, ", ")))
		}
		fmt.Fprintf(w, "      %s\n", config.Fingerprint(c))
	}
	fp := config.Fingerprint(chain[0])
	switch {
	case s.Fingerprint != "" && s.Fingerprint == fp:
		fmt.Fprintf(w, "  trusted: the certificate matches tls_fingerprint\n")
	case s.Fingerprint != "":
		fmt.Fprintf(w, "  NOT trusted: tls_fingerprint is %s\n", s.Fingerprint)
	default:
		if verr := verifyChain(trust, chain, s.Host); verr != nil {
			fmt.Fprintf(w, "  NOT trusted: %s\n", termsafe.String(verr.Error()))
			fmt.Fprintf(w, "  to trust it: tls_fingerprint: %s (this certificate only), or ca_file: a file with the PEM of the certificate authority below\n", fp)
		} else {
			fmt.Fprintf(w, "  trusted: the chain verifies for %s\n", termsafe.String(s.Host))
		}
	}
	for _, c := range chain {
		pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return nil
}

func verifyChain(cfg *tls.Config, chain []*x509.Certificate, host string) error {
	if cfg.InsecureSkipVerify && cfg.VerifyConnection == nil {
		return errors.New("tls_skip_verify: true: nothing is checked")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: cfg.RootCAs, Intermediates: inter, DNSName: host})
	return err
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}
