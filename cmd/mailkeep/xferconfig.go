package main

import (
	"os"

	"github.com/mailkeep/mailkeep/internal/config"
)

// xferConfig is the config for commands that also run without one
// (export and import with --archive): it carries the encryption keys.
// nil when there is no config file, or it does not load (the command then
// reads and writes unencrypted data only, and says so when it meets
// encrypted data).
func (g *globals) xferConfig() *config.Config {
	if g.configPath == "" {
		found := false
		for _, p := range configCandidates() {
			if _, err := os.Stat(p); err == nil {
				found = true
				break
			}
		}
		if !found {
			return nil
		}
	}
	cfg, err := g.loadConfig()
	if err != nil {
		// The command goes on without it (it may not need keys), but
		// says why encrypted data will not be readable.
		g.warningf("config not used (no encryption keys from it): %v", err)
		return nil
	}
	return cfg
}
