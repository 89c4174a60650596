package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// TestDaemonBuildsSearchIndexAfterJob: a scheduled backup of more messages
// than a writer indexes itself is followed by the daemon building the
// search index, so search finds the new mail with nothing left to build.
func TestDaemonBuildsSearchIndexAfterJob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	e := newRJEnv(t, []string{"alice"}, archive.IndexesAtClose()+300, "jobs:\n  often: {schedule: \"@every 1s\", backup: [alice]}\n")
	d := startProc(t, "--config", e.config, "run", "--daemon")
	d.waitLog(60*time.Second, "search index built", "job=often")
	d.stop(syscall.SIGTERM, stopTimeout+15*time.Second)
	line := lineWith(d.Logs(), "search index built")
	if !strings.Contains(line, "messages=") || strings.Contains(line, "messages=0 ") {
		t.Fatalf("log line %q; want the number of messages indexed", line)
	}
	r, err := archive.Open(context.Background(), e.archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, err := r.SearchUnindexed(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("after the daemon's build: SearchUnindexed() = %d, %v; want 0", n, err)
	}
	stored := 0
	for _, err := range r.Messages(context.Background(), archive.Query{NoHeaders: true}) {
		if err != nil {
			t.Fatal(err)
		}
		stored++
	}
	if stored <= archive.IndexesAtClose() {
		t.Fatalf("%d messages archived; the test needs more than %d", stored, archive.IndexesAtClose())
	}
	code, _, stderr := e.cli("search", "--limit", "1", "a")
	if strings.Contains(stderr, "building the search index") {
		t.Errorf("search after the daemon's build = exit %d, built again:\n%s", code, stderr)
	}
}
