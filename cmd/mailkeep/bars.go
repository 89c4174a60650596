package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/internal/termsafe"
)

// bars draws one progress line per account on a terminal: its name, a
// bar, messages done of all its folders known so far, bytes, rate and the
// ETA over all of them. Every line has the same width and fits in 80
// columns (77); the lines are redrawn in place (at most every redrawEvery)
// and cleared before any other line is printed.
type bars struct {
	w     io.Writer
	now   func() time.Time
	accts []*acctBar // in the order they started
	shown int        // lines on the screen now
	last  time.Time  // of the last redraw
}

type acctBar struct {
	name              string
	total, done       int64 // messages
	totalBytes, bytes int64
	started           time.Time
	doneAt            time.Time // zero while running
}

const (
	redrawEvery = 100 * time.Millisecond
	barNameCols = 14
	barCols     = 12
)

func (b *bars) acct(name string) *acctBar {
	for _, a := range b.accts {
		if a.name == name && a.doneAt.IsZero() {
			return a
		}
	}
	a := &acctBar{name: name, started: b.now()}
	b.accts = append(b.accts, a)
	return a
}

// folder adds a folder's messages to its account's totals.
func (b *bars) folder(account string, total, totalBytes int64) {
	a := b.acct(account)
	a.total += total
	a.totalBytes += totalBytes
	b.draw(false)
}

// item counts one message of the account.
func (b *bars) item(account string, size int64) {
	a := b.acct(account)
	a.done++
	a.bytes += size
	if a.done > a.total {
		a.total = a.done // a folder that did not say how many
	}
	b.draw(false)
}

// accountDone takes the account's line away.
func (b *bars) accountDone(account string) {
	for i, a := range b.accts {
		if a.name == account && a.doneAt.IsZero() {
			b.accts = append(b.accts[:i], b.accts[i+1:]...)
			break
		}
	}
	b.draw(true)
}

// draw redraws every line in place; unless forced, not more often than
// redrawEvery.
func (b *bars) draw(force bool) {
	now := b.now()
	if !force && now.Sub(b.last) < redrawEvery {
		return
	}
	b.last = now
	var buf bytes.Buffer
	if b.shown > 0 {
		fmt.Fprintf(&buf, "\033[%dA", b.shown)
	}
	for _, a := range b.accts {
		buf.WriteString("\r\033[K")
		buf.WriteString(a.line(now))
		buf.WriteByte('\n')
	}
	buf.WriteString("\r\033[J") // lines of accounts that are done
	b.shown = len(b.accts)
	b.w.Write(buf.Bytes())
}

// clear takes the lines off the screen, for another line to be printed;
// the next draw puts them back under it.
func (b *bars) clear() {
	if b.shown > 0 {
		fmt.Fprintf(b.w, "\033[%dA\r\033[J", b.shown)
		b.shown = 0
	}
}

// line is one account's progress, 77 columns while its counts fit in six
// digits:
//
//	alice          [#######-----]   9238/10941    41.2 MiB    3.1 MiB/s ETA 12s
func (a *acctBar) line(now time.Time) string {
	name := []rune(termsafe.String(a.name))
	if len(name) > barNameCols {
		name = append(name[:barNameCols-1], '…')
	}
	filled := 0
	if a.total > 0 {
		filled = int(int64(barCols) * a.done / a.total)
	}
	bar := strings.Repeat("#", filled) + strings.Repeat("-", barCols-filled)
	elapsed := now.Sub(a.started)
	rate, eta := "", "ETA --"
	if s := elapsed.Seconds(); s >= 1 {
		rate = humanBytes(int64(float64(a.bytes)/s)) + "/s"
		if a.done > 0 {
			left := time.Duration(float64(a.total-a.done) / (float64(a.done) / s) * float64(time.Second))
			eta = "ETA " + shortDuration(left)
		}
	}
	return fmt.Sprintf("%-*s [%s] %6d/%-6d %10s %12s %-9s", barNameCols, string(name), bar, a.done, a.total, humanBytes(a.bytes), rate, eta)
}

// shortDuration is "1h02m", "3m05s" or "12s".
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}
