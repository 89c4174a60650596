package mailfmt

import (
	"bytes"
	"strings"
	"time"
)

// asctime is the date of a From_ line (C's asctime, always UTC here).
const asctime = "Mon Jan _2 15:04:05 2006"

// fromLine formats an mbox From_ line, newline included.
func fromLine(sender string, date time.Time) []byte {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	if date.IsZero() {
		date = time.Unix(0, 0)
	}
	return []byte("From " + sender + " " + date.UTC().Format(asctime) + "\n")
}

// fromDateLayouts are the dates seen in From_ lines in the wild, after
// runs of spaces are collapsed to one.
var fromDateLayouts = []string{
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 -0700 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon Jan 2 15:04:05 MST -0700 2006",
	"Mon Jan 2 15:04 2006",
	"Mon Jan 2 15:04:05 2006 -0700",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 -0700 (MST)",
	"2 Jan 2006 15:04:05 -0700",
}

// parseFromLine splits a From_ line into envelope sender and date (zero
// when it does not parse).
func parseFromLine(line []byte) (sender string, date time.Time) {
	s := strings.TrimRight(string(bytes.TrimPrefix(line, []byte("From "))), "\r\n")
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return "", time.Time{}
	}
	sender = fields[0]
	rest := strings.Join(fields[1:], " ")
	for _, l := range fromDateLayouts {
		if t, err := time.Parse(l, rest); err == nil {
			return sender, t
		}
	}
	return sender, time.Time{}
}

// looksLikeFromLine tells an mbox message separator from a body line that
// happens to start with "From " (which a careless mboxo writer left
// unquoted): a separator has a time of day and a year after the sender.
// mutt makes the same distinction; Python's mailbox module does not.
func looksLikeFromLine(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return false
	}
	fields := bytes.Fields(line[5:])
	if len(fields) < 3 {
		return false
	}
	var clock, year bool
	for _, f := range fields[1:] {
		switch {
		case isClock(f):
			clock = true
		case len(f) == 4 && allDigits(f) && (f[0] == '1' || f[0] == '2'):
			year = true
		}
	}
	return clock && year
}

// isClock matches H:MM, HH:MM and HH:MM:SS.
func isClock(f []byte) bool {
	parts := bytes.Split(f, []byte(":"))
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for i, p := range parts {
		if !allDigits(p) || len(p) > 2 || (i > 0 && len(p) != 2) || len(p) == 0 {
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
