package mailfmt

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Namer gives every folder of an export its path relative to the export
// directory (see names.go for the mapping): the Maildir++ directory ("" for
// INBOX), the mbox file, or the directory of .eml files. Two folders never
// get the same path, nor paths that differ only in case (a case-insensitive
// file system would merge them): the one that sorts later has more of its
// letters written %XX until its path is free, which changes nothing of what
// it decodes to. Plan with every folder first, so that who gets the plain
// name does not depend on the order of the messages. Safe for concurrent use.
type Namer struct {
	format Format
	dir    string // export directory, for NamesFile; "" writes none
	mu     sync.Mutex
	paths  map[Folder]string
	nodes  map[string]string // node (kind + levels) -> its path
	claims map[string]string // parent path + "\x00" + folded component -> node
	short  map[string]string // shortened component -> full
	finals map[string]Folder // node -> the folder whose messages are in it
	inbox  bool              // the INBOX name is taken
}

// NewNamer returns the namer of a format. With dir set, components that had
// to be shortened are recorded in dir/NamesFile (read first, so an export
// into the same directory again keeps its entries).
func NewNamer(format Format, dir string) *Namer {
	n := &Namer{format: format, dir: dir, paths: map[Folder]string{}, nodes: map[string]string{},
		claims: map[string]string{}, short: map[string]string{}, finals: map[string]Folder{}}
	if dir != "" {
		n.short, _ = ReadNamesFile(dir)
	}
	// A Maildir++ folder named "mailkeep-names" would be ".mailkeep-names".
	n.claims["\x00"+foldName(NamesFile)] = "reserved"
	return n
}

// Plan names the folders in sorted order (name, delimiter, key), so that
// the plain name goes to the same folder whatever the order of export.
func (n *Namer) Plan(folders []Folder) error {
	fs := slices.Clone(folders)
	slices.SortFunc(fs, func(a, b Folder) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if a.Delim != b.Delim {
			return int(a.Delim) - int(b.Delim)
		}
		return cmp.Compare(a.Key, b.Key)
	})
	var errs []error
	for _, f := range fs {
		if _, err := n.path(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Path is the folder's path relative to the export directory (OS
// separators), named now if it was not planned.
func (n *Namer) Path(f Folder) string {
	p, _ := n.path(f)
	return p
}

func (n *Namer) path(f Folder) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.paths[f]; ok {
		return p, nil
	}
	levels := f.Levels()
	inbox := f.IsInbox() && !n.inbox
	if inbox {
		n.inbox = true
		levels = []string{"INBOX"}
	}
	grew := false
	var p string
	if n.format == Maildir {
		if inbox {
			p = ""
		} else {
			p, grew = n.component("", n.final("M\x00"+strings.Join(levels, "\x00"), f), func(extra int) string {
				parts := make([]string, len(levels))
				for i, l := range levels {
					e := 0
					if i == len(levels)-1 {
						e = extra
					}
					parts[i] = escapeLevel(l, levelMaildir, e)
				}
				return "." + strings.Join(parts, ".")
			}, "", utf8.RuneCountInString(levels[len(levels)-1]))
		}
	} else {
		parent := ""
		for i, l := range levels {
			kind, tag := levelDir, "D"
			switch {
			case n.format == EML:
				kind = levelEML
			case i == len(levels)-1:
				kind, tag = levelMbox, "F"
			}
			key := tag + "\x00" + strings.Join(levels[:i+1], "\x00")
			if inbox {
				key = tag + "\x00INBOX"
			}
			if i == len(levels)-1 {
				key = n.final(key, f)
			}
			suffix := ""
			if kind == levelMbox {
				suffix = ".mbox"
			}
			c, g := n.component(parent, key, func(extra int) string { return escapeLevel(l, kind, extra) },
				suffix, utf8.RuneCountInString(l))
			grew = grew || g
			parent = c
		}
		p = parent
	}
	n.paths[f] = p
	if grew && n.dir != "" {
		if err := writeNamesFile(n.dir, n.short); err != nil {
			return p, fmt.Errorf("%s: %w", filepath.Join(n.dir, NamesFile), err)
		}
	}
	return p, nil
}

// final is the node that holds f's messages: two folders with the same
// levels ("/" with delimiter '/' and "." with '.') get two nodes.
func (n *Namer) final(node string, f Folder) string {
	for {
		owner, ok := n.finals[node]
		if !ok || owner == f {
			n.finals[node] = f
			return node
		}
		node += "\x00+"
	}
}

// component returns the path of a node under parent, choosing its
// component: the plain encoding if no other node holds it (case folded),
// else one with more letters escaped, else (a level with no letters left
// to escape) one padded with %00, which decodes to nothing. suffix
// (".mbox") follows the encoded level. grew reports a new NamesFile entry.
func (n *Namer) component(parent, node string, enc func(extra int) string, suffix string, letters int) (string, bool) {
	if p, ok := n.nodes[node]; ok {
		return p, false
	}
	for extra := 0; ; extra++ {
		e := enc(min(extra, letters))
		if extra > letters {
			e += strings.Repeat("%00", extra-letters)
		}
		short, cut := shorten(e)
		c := short + suffix
		claim := parent + "\x00" + foldName(c)
		if owner, taken := n.claims[claim]; taken && owner != node {
			continue
		}
		n.claims[claim] = node
		p := c
		if parent != "" {
			p = filepath.Join(parent, c)
		}
		n.nodes[node] = p
		grew := false
		if cut && n.short[short] != e {
			n.short[short] = e
			grew = true
		}
		return p, grew
	}
}

// foldName is what a case-insensitive file system compares.
func foldName(s string) string { return strings.ToLower(strings.ToUpper(s)) }

// ReadNamesFile reads an export's NamesFile: shortened component -> full.
// A missing file is an empty map.
func ReadNamesFile(dir string) (map[string]string, error) {
	out := map[string]string{}
	f, err := openNoFollow(filepath.Join(dir, NamesFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		return out, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		short, full, ok := strings.Cut(sc.Text(), "\t")
		if ok && short != "" && full != "" && !strings.ContainsAny(short+full, "/\x00") {
			out[short] = full
		}
	}
	return out, sc.Err()
}

func writeNamesFile(dir string, short map[string]string) error {
	keys := make([]string, 0, len(short))
	for k := range short {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("# mailkeep: shortened file names and their full form (SHORT<TAB>FULL); import reads this\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s\t%s\n", k, short[k])
	}
	return replaceFile(filepath.Join(dir, NamesFile), []byte(b.String()))
}
