package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples parses every file in examples/: each must be a valid
// config with no warnings, so the documentation cannot rot.
func TestExamples(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	dir := filepath.Join("..", "..", "examples")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			path := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, warnings, err := Parse(data, path)
			if err != nil {
				t.Fatalf("Parse(%s) error:\n%v", path, err)
			}
			if len(warnings) > 0 {
				t.Errorf("Parse(%s) warnings = %q, want none", path, warnings)
			}
			if len(c.Accounts) == 0 {
				t.Errorf("Parse(%s): no accounts", path)
			}
		})
	}
	if n == 0 {
		t.Fatalf("no .yaml files in %s", dir)
	}
}
