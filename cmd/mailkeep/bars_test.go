package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/progress"
)

var ansi = regexp.MustCompile("\033\\[[0-9]*[A-Za-z]")

// screenLines are the progress lines written, escape sequences taken out.
func screenLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(ansi.ReplaceAllString(out, ""), "\n") {
		if l = strings.TrimPrefix(l, "\r"); strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimLeft(l, "\r"))
		}
	}
	return lines
}

// Progress on a terminal (issue 14 item 6): one line per account over all
// its folders with an ETA; each line's label and counts are the same
// account's (two accounts once showed one's folder with both's counts);
// every line is as wide as the others and fits in 80 columns.
func TestProgressBarsOnePerAccount(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 5, 10, 3, 0, 0, 0, time.UTC)
	g := &globals{stdout: &bytes.Buffer{}, stderr: &out}
	u := &ui{g: g, verb: "backed up", folders: map[string]*folderTally{}, tty: true,
		bars: &bars{w: &out, now: func() time.Time { return now }}}
	send := func(e progress.Event) { u.Report(e) }
	send(progress.Event{Kind: progress.AccountStart, Account: "alice"})
	send(progress.Event{Kind: progress.AccountStart, Account: "dave"})
	send(progress.Event{Kind: progress.FolderStart, Account: "alice", Folder: "INBOX", Total: 100})
	send(progress.Event{Kind: progress.FolderStart, Account: "dave", Folder: "Lists/dovecot", Total: 10941})
	send(progress.Event{Kind: progress.FolderStart, Account: "alice", Folder: "Archive/2019", Total: 50})
	for i := range 120 {
		now = now.Add(50 * time.Millisecond)
		send(progress.Event{Kind: progress.Item, Account: "dave", Folder: "Lists/dovecot", Bytes: 4000})
		if i%2 == 0 {
			send(progress.Event{Kind: progress.Item, Account: "alice", Folder: "INBOX", Bytes: 1000})
		}
	}
	send(progress.Event{Kind: progress.FolderDone, Account: "alice", Folder: "INBOX"})
	lines := screenLines(out.String())
	width := 0
	for _, l := range lines {
		if !strings.Contains(l, "[") {
			continue // the folder's own line
		}
		f := strings.Fields(l)
		switch f[0] {
		case "alice":
			if !strings.Contains(l, "/150 ") && !strings.Contains(l, "/100 ") {
				t.Errorf("alice's line counts other messages than her 100 + 50: %q", l)
			}
		case "dave":
			if !strings.Contains(l, "/10941") {
				t.Errorf("dave's line counts other messages than his 10941: %q", l)
			}
		default:
			t.Errorf("a line is not one account's: %q", l)
		}
		if len([]rune(l)) >= 80 {
			t.Errorf("line of %d columns wraps at 80: %q", len([]rune(l)), l)
		}
		if width != 0 && len([]rune(l)) != width {
			t.Errorf("line width changed from %d to %d: %q", width, len([]rune(l)), l)
		}
		width = len([]rune(l))
	}
	last := lines[len(lines)-2:]
	if !strings.HasPrefix(last[0], "alice ") || !strings.Contains(last[0], "60/150") || !strings.Contains(last[0], "ETA ") ||
		!strings.HasPrefix(last[1], "dave ") || !strings.Contains(last[1], "120/10941") {
		t.Errorf("last screen = %q, want alice 60/150 and dave 120/10941 with ETAs", last)
	}
	if !strings.Contains(last[1], "ETA 9m01s") {
		t.Errorf("dave: 120 messages in 6s, 10821 to go: want ETA 9m01s, got %q", last[1])
	}
	if !strings.Contains(out.String(), "alice/INBOX: backed up 60 messages") {
		t.Errorf("the folder's line is missing:\n%s", out.String())
	}
	// Done: the account's line goes away.
	out.Reset()
	send(progress.Event{Kind: progress.AccountDone, Account: "alice"})
	if l := screenLines(out.String()); len(l) != 1 || !strings.HasPrefix(l[0], "dave ") {
		t.Errorf("after alice is done the screen shows %q, want dave's line only", l)
	}
}
