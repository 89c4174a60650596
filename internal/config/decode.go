package config

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The decoder walks yaml.v3 nodes by hand rather than unmarshalling into
// structs: that is what lets every unknown key and wrong type be reported
// with its full path and line, all at once, instead of stopping at the
// first one.

// maxEntries bounds the mapping entries visited, aliases included, so
// that a file of aliases to aliases cannot keep the decoder busy.
const maxEntries = 1 << 20

type decoder struct {
	*problems
	lines   map[string]int // key path -> line of the key; also says which keys were set
	merged  map[*yaml.Node][]entry
	merging map[*yaml.Node]bool
	budget  int
	before  map[*CleanupJob]string // cleanup.before as written, parsed once the job's time zone is known
}

type entry struct{ key, val *yaml.Node }

type fieldFunc func(v *yaml.Node, path string)

func newDecoder(ps *problems) *decoder {
	return &decoder{
		problems: ps,
		lines:    map[string]int{},
		merged:   map[*yaml.Node][]entry{},
		merging:  map[*yaml.Node]bool{},
		budget:   maxEntries,
		before:   map[*CleanupJob]string{},
	}
}

// has reports whether the key at path was in the file.
func (d *decoder) has(path string) bool {
	_, ok := d.lines[path]
	return ok
}

// line returns the line of path, or of its nearest ancestor that was in
// the file (a missing key is reported at its parent).
func (d *decoder) line(path string) int {
	for p := path; p != ""; {
		if l, ok := d.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// at records a problem at path, on path's line.
func (d *decoder) at(path, format string, args ...any) {
	d.add(d.line(path), path, format, args...)
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names what a node is, for "expected X, got Y". Scalar values
// are quoted unless secret is set, so that a misplaced password is never
// echoed back.
func describe(n *yaml.Node, secret bool) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind != yaml.ScalarNode:
		return "something else"
	}
	tag := n.ShortTag()
	switch tag {
	case "!!null":
		return "no value"
	case "!!bool", "!!int", "!!float", "!!str", "!!timestamp":
	default:
		return "a value tagged " + tag
	}
	if secret {
		switch tag {
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return "a string"
	}
	return quote(n.Value)
}

// quote quotes s for a message, shortened to keep messages one line.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:37]) + "..."
	}
	return strconv.Quote(s)
}

func (d *decoder) typeErr(n *yaml.Node, path, want string, secret bool) {
	d.add(resolve(n).Line, path, "expected %s, got %s", want, describe(n, secret))
}

// entries returns a mapping's key/value pairs with merge keys (<<)
// applied: keys written in the mapping win over merged ones, and earlier
// merged mappings win over later ones. Duplicate and non-string keys are
// reported here.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	if es, ok := d.merged[n]; ok {
		return es
	}
	if d.merging[n] {
		d.add(n.Line, path, "merge (<<) refers to a mapping that contains it")
		return nil
	}
	d.merging[n] = true
	defer delete(d.merging, n)

	var es []entry
	var merges []*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		rk := resolve(k)
		if rk == nil || rk.Kind != yaml.ScalarNode || isNull(rk) {
			d.add(k.Line, path, "keys must be plain strings, got %s", describe(k, false))
			continue
		}
		if first, dup := seen[rk.Value]; dup {
			d.add(k.Line, joinPath(path, rk.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[rk.Value] = k.Line
		es = append(es, entry{rk, v})
	}
	for _, m := range merges {
		m = resolve(m)
		var sources []*yaml.Node
		switch {
		case m != nil && m.Kind == yaml.MappingNode:
			sources = []*yaml.Node{m}
		case m != nil && m.Kind == yaml.SequenceNode:
			for _, s := range m.Content {
				if s = resolve(s); s != nil && s.Kind == yaml.MappingNode {
					sources = append(sources, s)
				} else {
					d.typeErr(s, joinPath(path, "<<"), "a mapping to merge", false)
				}
			}
		default:
			d.typeErr(m, joinPath(path, "<<"), "a mapping or a list of mappings to merge", false)
		}
		for _, s := range sources {
			for _, e := range d.entries(s, path) {
				if _, ok := seen[e.key.Value]; !ok {
					seen[e.key.Value] = e.key.Line
					es = append(es, e)
				}
			}
		}
	}
	d.merged[n] = es
	return es
}

// spend takes one visited entry from the budget, reporting once when it
// runs out.
func (d *decoder) spend() bool {
	d.budget--
	if d.budget == -1 {
		d.add(0, "", "too many keys once aliases are expanded (more than %d)", maxEntries)
	}
	return d.budget >= 0
}

// mapping decodes a mapping with a fixed set of keys. No value (null) is
// an empty mapping.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]fieldFunc) {
	if !d.isMapping(n, path) {
		return
	}
	for _, e := range d.entries(resolve(n), path) {
		if !d.spend() {
			return
		}
		key := e.key.Value
		if path == "" && strings.HasPrefix(key, "x-") {
			continue // top-level extension keys hold anchors to share
		}
		sub := joinPath(path, key)
		fn, ok := fields[key]
		if !ok {
			d.add(e.key.Line, sub, "unknown key%s", suggestion(key, fields))
			continue
		}
		d.lines[sub] = e.key.Line
		fn(e.val, sub)
	}
}

// named decodes a mapping whose keys are names the user chose (accounts,
// jobs, folder_map), calling fn for each.
func (d *decoder) named(n *yaml.Node, path string, fn func(name string, line int, v *yaml.Node, path string)) {
	if !d.isMapping(n, path) {
		return
	}
	for _, e := range d.entries(resolve(n), path) {
		if !d.spend() {
			return
		}
		sub := joinPath(path, e.key.Value)
		d.lines[sub] = e.key.Line
		fn(e.key.Value, e.key.Line, e.val, sub)
	}
}

func (d *decoder) isMapping(n *yaml.Node, path string) bool {
	if isNull(n) {
		return false
	}
	r := resolve(n)
	if r.Kind != yaml.MappingNode {
		d.typeErr(n, path, "a mapping", false)
		return false
	}
	if t := r.ShortTag(); t != "!!map" {
		d.add(r.Line, path, "unsupported tag %s", t)
		return false
	}
	return true
}

// yamlErrLine matches the "yaml: line N: " prefix of yaml.v3's syntax errors.
var yamlErrLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// yamlError splits a yaml.v3 error into its line (0 if none) and message.
func yamlError(err error) (int, string) {
	msg := err.Error()
	m := yamlErrLine.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg
	}
	line, _ := strconv.Atoi(m[1])
	return line, msg[len(m[0]):]
}
