package restore

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/mailkeep/mailkeep/internal/namespace"
)

// Folder mapping: which target folder a source folder's mail goes into.
//
//	INBOX                          -> INBOX
//	an explicit folder_map entry   -> that name (written with "/")
//	a special-use folder (\Sent)   -> the target's folder with that role, whatever its name
//	anything else                  -> the same levels, joined with the target's delimiter,
//	                                  under the target's personal namespace prefix ("INBOX.")
//
// A name that falls in one of the target's other namespaces (another
// user's folder, a public folder) is refused: mailkeep writes only into
// the account's own folders.
//
// Levels are cleaned for the target: its delimiter inside a level, the
// LIST wildcards "*" and "%", control characters, "." and ".." and empty
// levels become "_" (each change is noted in the report).

// sourceFolder is what the archive knows of a source folder.
type sourceFolder struct {
	Name       string
	Delim      rune // 0: flat or unknown
	SpecialUse string
}

// layout is what the target server told about its folders.
type layout struct {
	prefix   string            // personal namespace prefix, "" or e.g. "INBOX."
	ns       *namespace.Set    // the target's namespaces; nil: all personal
	delim    rune              // hierarchy delimiter, 0 if flat
	special  map[string]string // special-use attribute -> existing folder
	exists   map[string]bool   // selectable folders, as listed
	useAttrs bool              // the server announced SPECIAL-USE
}

// mapping is where one source folder goes.
type mapping struct {
	Source     string
	Target     string
	SpecialUse string // role the target folder has or should be created with
	How        string // inbox, folder_map, special-use, name
	Notes      []string
	Refused    string // why nothing is written there (not the account's own folder), "" if fine
}

// roleNames are common names of special-use folders, for servers (source
// or target) that do not announce SPECIAL-USE attributes.
var roleNames = map[string]string{
	"sent": `\Sent`, "sent items": `\Sent`, "sent messages": `\Sent`, "sent mail": `\Sent`,
	"gesendet": `\Sent`, "gesendete objekte": `\Sent`, "gesendete elemente": `\Sent`, "envoyés": `\Sent`,
	"drafts": `\Drafts`, "draft": `\Drafts`, "entwürfe": `\Drafts`, "brouillons": `\Drafts`,
	"trash": `\Trash`, "deleted items": `\Trash`, "deleted messages": `\Trash`, "papierkorb": `\Trash`,
	"gelöschte elemente": `\Trash`, "corbeille": `\Trash`,
	"junk": `\Junk`, "spam": `\Junk`, "junk e-mail": `\Junk`, "junk email": `\Junk`, "bulk mail": `\Junk`,
	"archive": `\Archive`, "archives": `\Archive`, "archiv": `\Archive`,
}

func roleByName(level string) string { return roleNames[strings.ToLower(strings.TrimSpace(level))] }

func isInbox(name string) bool { return strings.EqualFold(name, "INBOX") }

// sourcePrefix recognises a Courier-style source whose folders all live
// under "INBOX." and returns that prefix, to be taken off before mapping:
// for archives that do not record the source's namespaces.
func sourcePrefix(folders []sourceFolder) string {
	names := make([]string, len(folders))
	for i, f := range folders {
		if f.Delim != '.' && !isInbox(f.Name) {
			return ""
		}
		names[i] = f.Name
	}
	return namespace.Guess(names, '.').PersonalPrefix()
}

// guessRoles reports whether source roles should be guessed from names:
// only when the source announced none at all.
func guessRoles(folders []sourceFolder) bool {
	for _, f := range folders {
		if f.SpecialUse != "" {
			return false
		}
	}
	return true
}

// splitLevels splits a folder name at its delimiter.
func splitLevels(name string, delim rune) []string {
	if delim == 0 {
		return []string{name}
	}
	return strings.Split(name, string(delim))
}

// mapFolder decides where a source folder's mail goes. srcPrefix is the
// source's personal namespace prefix if the folder is in it, else "".
// explicit is the target account's folder_map (config.Account.MapFolder,
// which takes the canonical name), nil if none.
func (l *layout) mapFolder(f sourceFolder, srcPrefix string, guess bool, explicit func(string, rune) (string, bool)) mapping {
	m := l.mapName(f, srcPrefix, guess, explicit)
	if l.ns != nil && m.Target != "INBOX" {
		if sp := l.ns.Of(m.Target); sp.Kind != namespace.Personal {
			m.Refused = fmt.Sprintf("%s would be in the target's %s namespace (prefix %q), not the account's own folders; "+
				"nothing is written there (map it elsewhere with folder_map)", quote(m.Target), sp.Kind, sp.Prefix)
		}
	}
	return m
}

func (l *layout) mapName(f sourceFolder, srcPrefix string, guess bool, explicit func(string, rune) (string, bool)) mapping {
	m := mapping{Source: f.Name}
	if isInbox(f.Name) {
		m.Target, m.How = "INBOX", "inbox"
		return m
	}
	rel := f.Name
	if srcPrefix != "" && len(rel) > len(srcPrefix) && strings.EqualFold(rel[:len(srcPrefix)], srcPrefix) {
		rel = rel[len(srcPrefix):]
	}
	if explicit != nil {
		name, ok := explicit(namespace.Canonical(f.Name, f.Delim, srcPrefix), f.Delim)
		if !ok && srcPrefix != "" {
			name, ok = explicit(namespace.Canonical(f.Name, f.Delim, ""), f.Delim)
		}
		if ok {
			m.How = "folder_map"
			if isInbox(name) {
				m.Target = "INBOX"
				return m
			}
			m.Target = l.join(strings.Split(name, "/"), &m)
			if _, exists := l.exists[m.Target]; !exists && f.SpecialUse != "" && l.special[f.SpecialUse] == "" {
				m.SpecialUse = f.SpecialUse
			}
			return m
		}
	}
	levels := splitLevels(rel, f.Delim)
	role := f.SpecialUse
	if role == "" && guess && len(levels) == 1 {
		role = roleByName(levels[0])
	}
	if role != "" {
		if name, ok := l.special[role]; ok {
			m.Target, m.How, m.SpecialUse = name, "special-use", role
			return m
		}
		m.SpecialUse = role
	}
	m.Target, m.How = l.join(levels, &m), "name"
	return m
}

// join builds a target name from levels: each cleaned, joined with the
// target's delimiter, under its personal namespace prefix.
func (l *layout) join(levels []string, m *mapping) string {
	clean := make([]string, 0, len(levels))
	for _, lv := range levels {
		c := l.cleanLevel(lv)
		if c != lv {
			m.Notes = append(m.Notes, "level "+quote(lv)+" written "+quote(c)+" on the target")
		}
		clean = append(clean, c)
	}
	if len(clean) > 1 && isInbox(clean[0]) {
		clean[0] = "INBOX"
	}
	sep := string(l.delim)
	if l.delim == 0 {
		// A server without hierarchy: keep the levels readable in one name.
		sep = "_"
		if len(clean) > 1 {
			m.Notes = append(m.Notes, "the target has no folder hierarchy; levels joined with \"_\"")
		}
	}
	name := strings.Join(clean, sep)
	if isInbox(name) {
		return "INBOX"
	}
	if l.prefix != "" && !hasPrefixFold(name, l.prefix) {
		name = l.prefix + name
	}
	return name
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// cleanLevel makes one level of a name acceptable to the target.
func (l *layout) cleanLevel(s string) string {
	switch strings.TrimSpace(s) {
	case "":
		return "_"
	case ".", "..":
		return strings.Repeat("_", len(s))
	}
	return strings.Map(func(r rune) rune {
		switch {
		case l.delim != 0 && r == l.delim, r == '*', r == '%', unicode.IsControl(r), r == unicode.ReplacementChar:
			return '_'
		}
		return r
	}, s)
}

// strictName is a last resort for a name the target refused: only
// letters, digits, space, "-" and "_" in each level.
func (l *layout) strictName(name string) string {
	rel := name
	if l.prefix != "" && hasPrefixFold(rel, l.prefix) {
		rel = rel[len(l.prefix):]
	}
	levels := splitLevels(rel, l.delim)
	for i, lv := range levels {
		lv = strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '-' || r == '_' {
				return r
			}
			return '_'
		}, lv)
		lv = strings.TrimSpace(lv)
		if lv == "" || strings.Trim(lv, "_") == "" {
			lv = "Folder" + lv
		}
		levels[i] = lv
	}
	m := mapping{}
	out := l.join(levels, &m)
	if out == name {
		out = l.join(append([]string{"Restored"}, levels...), &m)
	}
	return out
}

func quote(s string) string { return "\"" + s + "\"" }
