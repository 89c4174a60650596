package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
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
		g.warningf("%s", w)
	}
	if err != nil {
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

// openArchiveRO opens the archive in dir to read it.
func openArchiveRO(ctx context.Context, dir string) (*archive.Repo, error) {
	r, err := ops.OpenReader(ctx, dir)
	if err != nil {
		return nil, err // an *ops.Error: exit 1, with a hint
	}
	return r, nil
}
