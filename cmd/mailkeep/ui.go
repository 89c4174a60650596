package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// ui turns progress events into what a person or a script sees: a
// progress bar on a terminal, one line per folder otherwise, JSON lines
// with --json. Safe for concurrent use.
type ui struct {
	g       *globals
	verb    string // "backed up", "verified", ...
	mu      sync.Mutex
	bar     *progressbar.ProgressBar
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
	}
	return u
}

func (u *ui) Report(e progress.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.g.json {
		u.jsonEvent(e)
		return
	}
	key := e.Account + "/" + e.Folder
	switch e.Kind {
	case progress.FolderStart:
		u.folders[key] = &folderTally{total: e.Total}
		if u.tty {
			u.newBar(key, e.Total)
		}
	case progress.Item:
		t := u.folders[key]
		if t == nil {
			t = &folderTally{}
			u.folders[key] = t
		}
		t.items++
		t.bytes += e.Bytes
		if u.bar != nil {
			u.bar.Describe(fmt.Sprintf("%s  %s", key, humanBytes(t.bytes)))
			u.bar.Add(1)
		}
	case progress.FolderDone:
		t := u.folders[key]
		delete(u.folders, key)
		if u.bar != nil && len(u.folders) == 0 {
			u.bar.Finish()
			u.bar.Clear()
			u.bar = nil
		}
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
		where := e.Account
		if e.Folder != "" {
			where += "/" + e.Folder
		}
		if e.UID != 0 {
			where += fmt.Sprintf(" uid %d", e.UID)
		}
		if e.UIDL != "" {
			where += " uidl " + e.UIDL
		}
		u.line("mailkeep: error: %s: %s", where, oneLine(fmt.Sprint(e.Err)))
	case progress.Warning:
		if !u.g.quiet {
			u.line("mailkeep: warning: %s: %s", joinWhere(e), e.Text)
		}
	case progress.Retry:
		if !u.g.quiet {
			u.line("mailkeep: %s: %s: %v", e.Account, e.Text, oneLine(fmt.Sprint(e.Err)))
		}
	case progress.Info:
		if u.g.verbose > 0 {
			u.line("%s: %s", joinWhere(e), e.Text)
		}
	}
}

func joinWhere(e progress.Event) string {
	s := e.Account
	if e.Folder != "" {
		s += "/" + e.Folder
	}
	if e.UID != 0 {
		s += fmt.Sprintf(" uid %d", e.UID)
	}
	if e.UIDL != "" {
		s += " uidl " + e.UIDL
	}
	return s
}

func (u *ui) newBar(desc string, total int64) {
	if u.bar != nil {
		u.bar.ChangeMax64(u.bar.GetMax64() + total)
		return
	}
	u.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(u.g.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
}

// line prints one line on standard error, clearing a bar first.
func (u *ui) line(format string, args ...any) {
	if u.bar != nil {
		u.bar.Clear()
	}
	fmt.Fprintf(u.g.stderr, format+"\n", args...)
	if u.bar != nil {
		u.bar.RenderBlank()
	}
}

func (u *ui) jsonEvent(e progress.Event) {
	switch e.Kind {
	case progress.Item:
		return // too many; totals come with folder-done
	}
	out := map[string]any{"event": string(e.Kind), "time": e.Time.UTC().Format(time.RFC3339Nano), "account": e.Account}
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
		out["error"] = oneLine(e.Err.Error())
	}
	writeJSON(u.g.stdout, out)
}

func writeJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	w.Write(append(b, '\n'))
}

// outcome is the status word of a summary line: "ok", "FAILED: why", or
// "PARTLY DONE: ..." with what failed.
func outcome(fatal error, ok bool, partly string) string {
	switch {
	case fatal != nil:
		return "FAILED: " + oneLine(fatal.Error())
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

// prefixWriter prefixes each write (protocol traces) with a label.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s%s", p.prefix, b)
	return len(b), nil
}
