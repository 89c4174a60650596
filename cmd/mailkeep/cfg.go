package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
)

// configCandidates are tried, in order, when --config is not given.
func configCandidates() []string {
	c := []string{"mailkeep.yaml"}
	if dir, err := os.UserConfigDir(); err == nil {
		c = append(c, filepath.Join(dir, "mailkeep", "config.yaml"))
	}
	return c
}

func (g *globals) loadConfig() (*config.Config, error) {
	if c := preloadedConfig(g); c != nil {
		return c, nil // a command run by 'mailkeep run' for a job (runjob.go)
	}
	path := g.configPath
	if path == "" {
		for _, p := range configCandidates() {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return nil, &exitError{code: exitUsage, err: errors.New("no configuration file"),
				hint: "pass --config FILE, or create mailkeep.yaml (see examples/ and the README)"}
		}
	}
	cfg, warnings, err := config.Load(path)
	for _, w := range warnings {
		fmt.Fprintf(g.stderr, "mailkeep: warning: %s\n", w)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &exitError{code: exitUsage, err: err}
		}
		return nil, &exitError{code: exitUsage, err: err}
	}
	return cfg, nil
}

// pickAccounts returns the named accounts, or all of them.
func pickAccounts(cfg *config.Config, names []string) ([]*config.Account, error) {
	if len(names) == 0 {
		names = cfg.AccountNames()
	}
	var out []*config.Account
	for _, n := range names {
		a, ok := cfg.Accounts[n]
		if !ok {
			return nil, usageErr("no account %q in %s (accounts: %v)", n, cfg.Path, cfg.AccountNames())
		}
		out = append(out, a)
	}
	return out, nil
}

// openArchive opens the configured archive for writing, creating it.
func openArchive(ctx context.Context, cfg *config.Config, purpose string) (*archive.Repo, error) {
	if err := os.MkdirAll(cfg.Archive, 0o700); err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("archive %s: %w", cfg.Archive, err)}
	}
	r, err := archive.Open(ctx, cfg.Archive, &archive.Options{Create: true, Purpose: purpose, Compression: cfg.Compression})
	if err != nil {
		var le *archive.LockedError
		if errors.As(err, &le) {
			return nil, &exitError{code: exitFailed, err: err, hint: "another mailkeep is writing this archive; wait for it to finish"}
		}
		return nil, &exitError{code: exitFailed, err: err}
	}
	return r, nil
}

func openArchiveRO(ctx context.Context, dir string) (*archive.Repo, error) {
	r, err := archive.Open(ctx, dir, nil)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &exitError{code: exitFailed, err: err, hint: "run 'mailkeep backup' first, or check 'archive:' in the config"}
		}
		return nil, &exitError{code: exitFailed, err: err}
	}
	return r, nil
}

// tlsConfig is the server's TLS settings (config.Server.TLSConfig).
func tlsConfig(s *config.Server) (*tls.Config, error) { return s.TLSConfig() }

// cachedSecret runs the account's secret source once per process: a
// password_command is not re-run on every reconnect.
func cachedSecret(a *config.Account) func(context.Context) (string, error) {
	var once sync.Once
	var s string
	var err error
	return func(ctx context.Context) (string, error) {
		once.Do(func() { s, err = a.Secret(ctx) })
		return s, err
	}
}

// imapDialer builds the connection factory of an IMAP account.
func (g *globals) imapDialer(a *config.Account) (func(context.Context) (*imapconn.Conn, error), error) {
	tc, err := tlsConfig(a.IMAP)
	if err != nil {
		return nil, fmt.Errorf("accounts.%s.imap: %w", a.Name, err)
	}
	secret := cachedSecret(a)
	opts := imapconn.Options{
		Addr: a.IMAP.Addr(), Security: a.IMAP.Security, TLSConfig: tc, Timeout: a.IMAP.Timeout,
		Username: a.Username, Auth: a.Auth, Secret: secret,
	}
	if g.verbose >= 2 {
		opts.Trace = &prefixWriter{w: g.stderr, prefix: "imap " + a.Name + ": "}
	}
	// One byte-rate bucket for all of the account's connections
	// (max_bytes_per_second), and at most 'connections' of them at once.
	if bucket := ratelimit.NewBucket(a.MaxBytesPerSecond); bucket != nil {
		opts.WrapConn = func(c net.Conn) net.Conn { return ratelimit.Conn(c, bucket, nil) }
	}
	slots := ratelimit.NewSlots(a.Connections)
	return func(ctx context.Context) (*imapconn.Conn, error) {
		release, err := slots.Acquire(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		o := opts
		o.Release = release
		return imapconn.Dial(ctx, &o)
	}, nil
}
