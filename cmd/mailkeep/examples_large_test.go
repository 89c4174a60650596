package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// examples/large-mailbox.yaml names the commands to run on a big
// mailbox: each must exist with the flags it is given, and name an
// account or job of the config where it names one.
func TestExampleLargeMailbox(t *testing.T) {
	cfg := loadExample(t, "large-mailbox.yaml")
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "large-mailbox.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "#   mailkeep ")
		if !ok {
			continue
		}
		if i := strings.Index(rest, "  "); i >= 0 {
			rest = rest[:i] // the comment beside it
		}
		args := strings.Fields(rest)
		root := newRoot(&globals{stdout: io.Discard, stderr: io.Discard})
		c, pos, err := root.Find(args)
		if err != nil || c == root {
			t.Fatalf("%q: no mailkeep command (%v)", args, err)
		}
		if err := c.ParseFlags(pos); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if err := c.ValidateArgs(c.Flags().Args()); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if c.Name() == "backup" {
			if _, err := pickAccounts(cfg, c.Flags().Args()); err != nil {
				t.Errorf("%q: %v", args, err)
			}
		}
		n++
	}
	if n < 4 {
		t.Fatalf("%d command lines in the example's header, want its 5", n)
	}
	if _, ok := cfg.Jobs["nightly"]; !ok {
		t.Errorf("no nightly job")
	}
}
