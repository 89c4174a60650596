package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Decoders for the leaf values of the schema. Each reports a wrong type
// at its path and returns the zero value, so decoding goes on.

// scalar returns a scalar node or reports what it got instead.
func (d *decoder) scalar(n *yaml.Node, path, want string, secret bool) (*yaml.Node, bool) {
	r := resolve(n)
	if r == nil || r.Kind != yaml.ScalarNode {
		d.typeErr(n, path, want, secret)
		return nil, false
	}
	if isNull(r) {
		if r.Value == "~" {
			d.add(r.Line, path, `a bare ~ is YAML for "no value": write "~" in quotes for the home directory`)
			return nil, false
		}
		d.add(r.Line, path, "missing value (expected %s)", want)
		return nil, false
	}
	return r, true
}

// str decodes a string. Numbers and dates are taken as written (port
// numbers as usernames, "2024-01-31" unquoted); booleans are not, since
// "true" where a string belongs is almost always a mistake.
func (d *decoder) str(n *yaml.Node, path string, secret bool) string {
	r, ok := d.scalar(n, path, "a string", secret)
	if !ok {
		return ""
	}
	switch r.ShortTag() {
	case "!!str", "!!int", "!!float", "!!timestamp":
		return r.Value
	}
	d.typeErr(r, path, "a string", secret)
	return ""
}

func (d *decoder) integer(n *yaml.Node, path string) int {
	r, ok := d.scalar(n, path, "an integer", false)
	if !ok {
		return 0
	}
	var v int
	if r.ShortTag() != "!!int" || r.Decode(&v) != nil || v < -1<<31 || v > 1<<31-1 {
		d.typeErr(r, path, "an integer", false)
		return 0
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	r, ok := d.scalar(n, path, "true or false", false)
	if !ok {
		return false
	}
	var v bool
	if r.ShortTag() != "!!bool" || r.Decode(&v) != nil {
		d.typeErr(r, path, "true or false", false)
		return false
	}
	return v
}

func (d *decoder) duration(n *yaml.Node, path string) time.Duration {
	r, ok := d.scalar(n, path, `a duration like "60s"`, false)
	if !ok {
		return 0
	}
	v, err := time.ParseDuration(r.Value)
	if r.ShortTag() != "!!str" || err != nil {
		d.typeErr(r, path, `a duration like "60s", "5m" or "1h30m"`, false)
		return 0
	}
	return v
}

// size decodes a byte count: a plain integer or a string like "2.5GB".
func (d *decoder) size(n *yaml.Node, path string) int64 {
	r, ok := d.scalar(n, path, `a size like "10MB"`, false)
	if !ok {
		return 0
	}
	if r.ShortTag() == "!!int" {
		var v int64
		if err := r.Decode(&v); err != nil {
			d.typeErr(r, path, `a size like "10MB"`, false)
		}
		return v
	}
	v, err := ParseSize(r.Value)
	if err != nil {
		d.typeErr(r, path, `a size like "500k", "10MB" or "2.5GB"`, false)
		return 0
	}
	return v
}

func (d *decoder) age(n *yaml.Node, path string) Age {
	r, ok := d.scalar(n, path, `an age like "30d"`, false)
	if !ok {
		return Age{}
	}
	if t := r.ShortTag(); t != "!!str" && t != "!!int" {
		d.typeErr(r, path, `an age like "30d"`, false)
		return Age{}
	}
	a, err := ParseAge(r.Value)
	if err != nil {
		d.add(r.Line, path, "%v", err)
	}
	return a
}

// strings decodes a list of strings, recording each item's line as
// path[i]. No value is an empty list.
func (d *decoder) strings(n *yaml.Node, path string) []string {
	if isNull(n) {
		return []string{}
	}
	r := resolve(n)
	if r.Kind != yaml.SequenceNode {
		d.typeErr(n, path, "a list", false)
		return nil
	}
	out := make([]string, 0, len(r.Content))
	for i, item := range r.Content {
		sub := fmt.Sprintf("%s[%d]", path, i)
		d.lines[sub] = resolve(item).Line
		out = append(out, d.str(item, sub, false))
	}
	return out
}

// patterns decodes a list of folder patterns and checks each one.
func (d *decoder) patterns(n *yaml.Node, path string) []string {
	list := d.strings(n, path)
	for i, p := range list {
		if err := checkPattern(p); err != nil {
			sub := fmt.Sprintf("%s[%d]", path, i)
			d.add(d.line(sub), sub, "%v", err)
		}
	}
	return list
}
