package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// JSON output (--json): one object a line on standard output, every one
// in the same envelope, whatever the command:
//
//	{"type": "folder-done", "account": "alice", "folder": "INBOX",
//	 "counts": {"messages": 12, "bytes": 40960}, "error": "...", ...}
//
// type says what the record is (also under its older name "event"),
// account and folder where it belongs ("" when it is about no one
// account or folder), counts its whole-number figures, error what went
// wrong (absent when nothing did). A command's own fields follow, the
// counts also at the top level as before.

// notCounts are whole numbers that name or date something rather than
// count it.
var notCounts = map[string]bool{"uid": true, "uidvalidity": true, "last_uid": true, "exit_code": true,
	"size": true, "offset": true, "max_age_seconds": true, "max_bytes_per_day": true, "seconds": true, "age_seconds": true}

// writeJSON writes v (a map or a struct) as one JSON line in the envelope.
func writeJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"type":"error","error":%q}`, err.Error()))
	}
	if env, err := envelope(b); err == nil {
		b = env
	}
	w.Write(append(b, '\n'))
}

func envelope(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // counts stay whole numbers
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	typ, _ := m["type"].(string)
	if typ == "" {
		typ, _ = m["event"].(string)
	}
	if typ == "" {
		typ = "record"
	}
	m["type"] = typ
	if _, ok := m["event"]; !ok {
		m["event"] = typ
	}
	for _, k := range []string{"account", "folder"} {
		if _, ok := m[k]; !ok {
			m[k] = ""
		}
	}
	counts, _ := m["counts"].(map[string]any)
	if counts == nil {
		counts = map[string]any{}
	}
	for k, v := range m {
		if n, ok := v.(json.Number); ok && !notCounts[k] && !strings.Contains(string(n), ".") {
			if _, have := counts[k]; !have {
				counts[k] = n
			}
		}
	}
	m["counts"] = counts
	if e, ok := m["error"]; ok && (e == nil || e == "") {
		delete(m, "error")
	}
	// The envelope first, in its order; the rest by name.
	keys := []string{"type", "account", "folder", "counts"}
	if _, ok := m["error"]; ok {
		keys = append(keys, "error")
	}
	var rest []string
	for k := range m {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	var out bytes.Buffer
	out.WriteByte('{')
	for i, k := range append(keys, rest...) {
		if i > 0 {
			out.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(m[k])
		if err != nil {
			return nil, err
		}
		out.Write(kb)
		out.WriteByte(':')
		out.Write(vb)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// jsonError writes a command's last error (and hint) as a record, in
// --json mode; the error line on standard error is written as well.
func (g *globals) jsonError(typ string, err error, hint string) {
	out := map[string]any{"type": typ, "error": oneLine(err.Error())}
	if hint != "" {
		out["hint"] = hint
	}
	writeJSON(g.stdout, out)
}
