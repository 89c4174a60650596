package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newVersionCmd) }

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mailkeep's version, VCS revision and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.json {
				v := buildVersion()
				writeJSON(g.stdout, map[string]any{"type": "version", "version": v.module, "revision": v.revision,
					"time": v.time, "modified": v.modified, "go": v.goVersion})
				return nil
			}
			fmt.Fprintln(g.stdout, versionLine())
			return nil
		},
	}
}

type version struct {
	module, revision, time, goVersion string
	modified                          bool
}

// buildVersion reads what the Go toolchain recorded in the binary: the
// module version ("(devel)" for a build from a checkout) and, for a build
// in a git checkout, the revision and whether the tree had changes.
func buildVersion() version {
	v := version{module: "(unknown)", goVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.module = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}

// versionLine is "mailkeep (devel), revision 0123abcd (2026-05-10T..., modified), go1.26.8".
func versionLine() string {
	v := buildVersion()
	s := "mailkeep " + v.module
	if v.revision != "" {
		rev := v.revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += ", revision " + rev
		if v.time != "" || v.modified {
			s += " ("
			if v.time != "" {
				s += v.time
			}
			if v.modified {
				if v.time != "" {
					s += ", "
				}
				s += "modified"
			}
			s += ")"
		}
	}
	return s + ", " + v.goVersion
}
