package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// verify's progress on a terminal is the bar other commands draw: the
// messages checked of all, redrawn in place, gone when verify ends; off a
// terminal there is none.
func TestVerifyBar(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 5, 10, 3, 0, 0, 0, time.UTC)
	g := &globals{stdout: &bytes.Buffer{}, stderr: &out}
	u := &ui{g: g, verb: "verified", folders: map[string]*folderTally{}, tty: true,
		bars: &bars{w: &out, now: func() time.Time { return now }}}
	bar := u.verifyBar("")
	for done := int64(0); done <= 1000; done += 50 {
		now = now.Add(200 * time.Millisecond)
		bar(done, 1000, done*1024)
	}
	u.verifyBarDone("")
	lines := screenLines(out.String())
	if len(lines) < 10 {
		t.Fatalf("verify bar drew %d lines, want one per redraw: %q", len(lines), lines)
	}
	lastLine := lines[len(lines)-1]
	if !strings.HasPrefix(lastLine, "verify ") || !strings.Contains(lastLine, "[############]") || !strings.Contains(lastLine, "1000/1000") ||
		!strings.Contains(lastLine, "1000.0 KiB") || len(lastLine) > 80 {
		t.Errorf("last bar = %q, want verify, a full bar, 1000/1000 and the bytes in 80 columns", lastLine)
	}
	if !strings.HasSuffix(out.String(), "\033[J") {
		t.Errorf("the bar is not cleared at the end: %q", out.String()[max(0, out.Len()-40):])
	}
	off := &ui{g: g, verb: "verified", folders: map[string]*folderTally{}}
	if off.verifyBar("work") != nil {
		t.Errorf("verifyBar() off a terminal is not nil")
	}
	off.verifyBarDone("work")
}
