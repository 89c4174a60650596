package main

import (
	"strings"
	"testing"
)

// TestLsFolderStreams: ls ACCOUNT FOLDER prints its rows as they come, a
// block aligned at a time: every message once, the header once, no line
// ending in spaces (the gone column is empty here); the same rows as one
// block.
func TestLsFolderStreams(t *testing.T) {
	e := newPOP3DeleteEnv(t)
	code, whole, stderr := runCLI("--config", e.config, "ls", "bob", "INBOX")
	if code != exitOK {
		t.Fatalf("ls bob INBOX = exit %d: %s", code, stderr)
	}
	defer func(n int) { lsBlock = n }(lsBlock)
	lsBlock = 2
	code, stdout, stderr := runCLI("--config", e.config, "ls", "bob", "INBOX")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != exitOK || len(lines) != 6 || !strings.HasPrefix(lines[0], "UID") || strings.Count(stdout, "UID") != 1 {
		t.Fatalf("ls bob INBOX in blocks of 2 = exit %d, want a header and 5 rows:\n%s%s", code, stdout, stderr)
	}
	for i, l := range lines {
		if strings.TrimRight(l, " ") != l {
			t.Errorf("line %d ends in spaces: %q", i, l)
		}
		if i > 0 && !strings.Contains(l, "post ") {
			t.Errorf("line %d is not a message: %q", i, l)
		}
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if squash(stdout) != squash(whole) {
		t.Errorf("blocks of 2 list other rows than one block:\n%s\nvs\n%s", stdout, whole)
	}
}
