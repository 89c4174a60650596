package config

import (
	"fmt"
	"sort"
	"strings"
)

// maxProblems bounds how many problems one Parse reports, so that a
// pathological file (thousands of aliases to a broken mapping) cannot
// make the error itself unbounded. Real configs stay far below it.
const maxProblems = 200

// Problem is one thing wrong with a config file. Its Error text is
// "FILE:LINE: PATH: MESSAGE", leaving out the parts that are unknown.
type Problem struct {
	File string // as given to Load or Parse; may be empty
	Line int    // 1-based; 0 when the problem has no single line
	Path string // dotted key path, e.g. "accounts.work.imap.host"; may be empty
	Msg  string // what is wrong, lower case, never containing a secret
}

func (p Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is what Parse and Load return when the file cannot be used: every
// problem found, in file order. A config error is permanent: retrying
// without editing the file gives the same result.
type Error struct {
	Problems []Problem
	Omitted  int // problems found beyond the reporting limit
}

// Error lists the problems one a line.
func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		lines = append(lines, p.Error())
	}
	if e.Omitted > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems", e.Omitted))
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives each problem as an error, for errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Warning is something that does not stop the config from being used but
// that the operator should hear about, such as a world-readable file that
// holds a password. It reads like a Problem: "FILE:LINE: PATH: MESSAGE".
type Warning string

// problems collects Problems and Warnings while a file is decoded and
// validated.
type problems struct {
	file       string
	list       []Problem
	omitted    int
	failed     map[string]bool // paths with a problem found while decoding
	validating bool
	warnings   []Warning
}

// add records a problem. Once decoding is done (validating is set), a
// problem at a path that, or whose parent, already failed to decode is
// dropped: a value of the wrong type should not also be reported as, say,
// out of range or missing.
func (ps *problems) add(line int, path, format string, args ...any) {
	if ps.validating && ps.decodeFailed(path) {
		return
	}
	if !ps.validating && path != "" {
		if ps.failed == nil {
			ps.failed = map[string]bool{}
		}
		ps.failed[path] = true
	}
	if len(ps.list) >= maxProblems {
		ps.omitted++
		return
	}
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) decodeFailed(path string) bool {
	for p := path; p != ""; {
		if ps.failed[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return false
}

func (ps *problems) warn(line int, path, format string, args ...any) {
	p := Problem{File: ps.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
	ps.warnings = append(ps.warnings, Warning(p.Error()))
}

// err returns nil or an *Error with the problems sorted by line (stable,
// so problems on one line keep the order they were found in).
func (ps *problems) err() error {
	if len(ps.list) == 0 && ps.omitted == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	return &Error{Problems: list, Omitted: ps.omitted}
}
