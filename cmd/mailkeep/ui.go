package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

// Output prefixes (age's tui.go): this file alone writes them. An error is
// one line "mailkeep: error: PLACE: WHAT" naming the place once, and
// "mailkeep: hint: ..." may follow; warnings are "mailkeep: warning: ...".
// Every line passes through safeLine: server-supplied text (folder names,
// error texts, subjects) reaches the terminal with its control characters
// escaped (internal/termsafe), never raw.

// safeLine makes s one line a terminal shows as it is: newlines become
// "; ", every other control character is escaped.
func safeLine(s string) string { return termsafe.String(oneLine(s)) }

// stdoutTTY reports whether standard output is a terminal.
func (g *globals) stdoutTTY() bool {
	f, ok := g.stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// interrupted reports whether a signal has stopped the command.
func (g *globals) interrupted() bool { return g.ctx != nil && g.ctx.Err() != nil }

// interruptedf prints the one line of an interrupted command.
func (g *globals) interruptedf(format string, args ...any) {
	fmt.Fprintf(g.stderr, "mailkeep: interrupted: %s\n", safeLine(fmt.Sprintf(format, args...)))
}

// errorf prints one error line on standard error.
func (g *globals) errorf(format string, args ...any) {
	fmt.Fprintf(g.stderr, "mailkeep: error: %s\n", safeLine(fmt.Sprintf(format, args...)))
}

// warningf prints one warning line on standard error.
func (g *globals) warningf(format string, args ...any) {
	fmt.Fprintf(g.stderr, "mailkeep: warning: %s\n", safeLine(fmt.Sprintf(format, args...)))
}

// hintf prints one hint line on standard error.
func (g *globals) hintf(format string, args ...any) {
	fmt.Fprintf(g.stderr, "mailkeep: hint: %s\n", safeLine(fmt.Sprintf(format, args...)))
}

// ui turns progress events into what a person or a script sees: a
// progress bar on a terminal, one line per folder otherwise, JSON lines
// with --json. Safe for concurrent use.
type ui struct {
	g       *globals
	verb    string // "backed up", "verified", ...
	mu      sync.Mutex
	bars    *bars // on a terminal: one line per account
	tty     bool
	folders map[string]*folderTally
	total   int64
}

type folderTally struct {
	items, bytes int64
	total        int64
}

func newUI(g *globals, verb string) *ui {
	u := &ui{g: g, verb: verb, folders: map[string]*folderTally{}}
	if f, ok := g.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !g.quiet && !g.json {
		u.tty = true
		u.bars = &bars{w: g.stderr, now: time.Now}
	}
	return u
}

func (u *ui) Report(e progress.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.g.interrupted() {
		switch e.Kind {
		case progress.Failed, progress.Retry, progress.Warning:
			return // the cancellation's own errors: main says "interrupted" once
		}
	}
	key := e.Account + "/" + e.Folder
	if u.g.json {
		u.jsonEvent(key, e)
		return
	}
	switch e.Kind {
	case progress.FolderStart:
		u.folders[key] = &folderTally{total: e.Total}
		if u.bars != nil {
			u.bars.folder(e.Account, e.Total, e.TotalBytes)
		}
	case progress.Item:
		t := u.folders[key]
		if t == nil {
			t = &folderTally{}
			u.folders[key] = t
		}
		t.items++
		t.bytes += e.Bytes
		if u.bars != nil {
			u.bars.item(e.Account, e.Bytes)
		}
	case progress.AccountDone:
		if u.bars != nil {
			u.bars.accountDone(e.Account)
		}
	case progress.FolderDone:
		t := u.folders[key]
		delete(u.folders, key)
		if u.g.quiet {
			return
		}
		switch {
		case e.Err != nil:
		case e.Text != "":
			if u.g.verbose > 0 || e.Text != "unchanged" {
				u.line("%s: %s", key, e.Text)
			}
		case t != nil:
			u.line("%s: %s %d messages, %s", key, u.verb, t.items, humanBytes(t.bytes))
		}
	case progress.Failed:
		u.clear(func() { u.g.errorf("%s", ops.Describe(joinWhere(e), e.Err)) })
	case progress.Warning:
		if !u.g.quiet {
			u.clear(func() {
				if w := joinWhere(e); w != "" {
					u.g.warningf("%s: %s", w, e.Text)
				} else {
					u.g.warningf("%s", e.Text) // about the archive itself
				}
			})
		}
	case progress.Retry:
		if !u.g.quiet {
			u.line("mailkeep: %s", ops.Describe(e.Account, fmt.Errorf("%s: %w", e.Text, e.Err)))
		}
	case progress.Info:
		if u.g.verbose > 0 {
			u.line("%s: %s", joinWhere(e), e.Text)
		}
	}
}

func joinWhere(e progress.Event) string { return ops.Where(e.Account, e.Folder, e.UID, e.UIDL) }

// line prints one line on standard error, clearing a bar first.
func (u *ui) line(format string, args ...any) {
	u.clear(func() { fmt.Fprintf(u.g.stderr, "%s\n", termsafe.String(fmt.Sprintf(format, args...))) })
}

// clear runs print with the bars out of the way.
func (u *ui) clear(print func()) {
	if u.bars != nil {
		u.bars.clear()
	}
	print()
	if u.bars != nil {
		u.bars.draw(true)
	}
}

// jsonEvent writes an event as a JSON line (messages one by one only
// count toward their folder's line). A failure is also one line on
// standard error, as without --json.
func (u *ui) jsonEvent(key string, e progress.Event) {
	switch e.Kind {
	case progress.FolderStart:
		u.folders[key] = &folderTally{total: e.Total}
	case progress.Item:
		t := u.folders[key]
		if t == nil {
			t = &folderTally{}
			u.folders[key] = t
		}
		t.items++
		t.bytes += e.Bytes
		return
	case progress.Failed:
		if !u.g.interrupted() {
			u.g.errorf("%s", ops.Describe(joinWhere(e), e.Err))
		}
	}
	out := map[string]any{"event": string(e.Kind), "time": e.Time.UTC().Format(time.RFC3339Nano), "account": e.Account}
	if t := u.folders[key]; e.Kind == progress.FolderDone && t != nil {
		out["messages"], out["bytes"] = t.items, t.bytes
		delete(u.folders, key)
	}
	if e.Folder != "" {
		out["folder"] = e.Folder
	}
	if e.UID != 0 {
		out["uid"] = e.UID
	}
	if e.UIDL != "" {
		out["uidl"] = e.UIDL
	}
	if e.Total != 0 {
		out["total"] = e.Total
	}
	if e.TotalBytes != 0 {
		out["total_bytes"] = e.TotalBytes
	}
	if e.Text != "" {
		out["text"] = e.Text
	}
	if e.Err != nil {
		out["error"] = ops.Describe("", e.Err)
	}
	writeJSON(u.g.stdout, out)
}

// outcome is the status word of a summary line: "ok", "FAILED: why", or
// "PARTLY DONE: ..." with what failed, or "INTERRUPTED".
func (g *globals) outcome(fatal error, ok bool, partly string) string {
	switch {
	case !ok && g.interrupted():
		return "INTERRUPTED: the next run resumes"
	case fatal != nil:
		return "FAILED: " + safeLine(fatal.Error())
	case !ok:
		return "PARTLY DONE: " + partly
	}
	return "ok"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// env is what the operations need from this process: the config, where
// progress goes, protocol traces with -vv, the job's name.
func (g *globals) env(cfg *config.Config, rep progress.Reporter) *ops.Env {
	env := &ops.Env{Config: cfg, Reporter: rep, Job: g.job}
	if g.verbose >= 2 {
		env.Trace = g.stderr
	}
	return env
}
