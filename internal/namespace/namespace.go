package namespace

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Kind is one of the three kinds of namespace of RFC 2342.
type Kind string

const (
	Personal Kind = "personal" // the account's own folders
	Other    Kind = "other"    // other users' folders shared with the account
	Shared   Kind = "shared"   // public folders
)

// Kinds are the kinds in the order NAMESPACE lists them.
var Kinds = []Kind{Personal, Other, Shared}

// ParseKind checks a kind as written in the config.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if s == string(k) {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown namespace %q (personal, other or shared)", s)
}

// Space is one namespace: a prefix and its hierarchy delimiter.
type Space struct {
	Kind   Kind   `json:"kind"`
	Prefix string `json:"prefix"`
	Delim  string `json:"delim,omitempty"` // "" for a flat namespace
}

// Set is what a server says about its namespaces. The zero Set has one
// personal namespace with the prefix "" and knows no others.
type Set struct {
	Spaces []Space `json:"spaces"`
	// FromServer is true when the server answered NAMESPACE; false when
	// the layout was guessed from LIST.
	FromServer bool `json:"from_server"`
}

// Personal returns the first personal namespace, or an empty prefix.
func (s *Set) Personal() Space {
	if s != nil {
		for _, sp := range s.Spaces {
			if sp.Kind == Personal {
				return sp
			}
		}
	}
	return Space{Kind: Personal}
}

// PersonalPrefix is the prefix of the personal namespace ("INBOX." on a
// Courier-style server, usually "").
func (s *Set) PersonalPrefix() string { return s.Personal().Prefix }

// Of returns the namespace a folder name is in: INBOX is always personal
// (RFC 3501 5.1), otherwise the namespace with the longest prefix the name
// starts with (or equals, without its delimiter: "user" is the root of
// "user."). A name no prefix matches is personal.
func (s *Set) Of(name string) Space {
	if IsInbox(name) {
		return s.Personal()
	}
	best, found := Space{}, false
	for _, sp := range s.spaces() {
		if !inSpace(name, sp) {
			continue
		}
		if !found || len(sp.Prefix) > len(best.Prefix) {
			best, found = sp, true
		}
	}
	if !found {
		return s.Personal()
	}
	return best
}

func (s *Set) spaces() []Space {
	if s == nil {
		return nil
	}
	return s.Spaces
}

func inSpace(name string, sp Space) bool {
	p := sp.Prefix
	if p == "" {
		return true
	}
	if hasPrefixFold(name, p) {
		return true
	}
	// The namespace's root itself ("user" for "user.").
	root := strings.TrimSuffix(p, sp.Delim)
	return root != "" && strings.EqualFold(name, root)
}

// Kind is the kind of namespace name is in.
func (s *Set) Kind(name string) Kind { return s.Of(name).Kind }

// Canonical writes a folder name of this server in the canonical form
// (see Canonical), taking the personal prefix off personal folders only.
func (s *Set) Canonical(name string, delim rune) string {
	prefix := ""
	if s.Of(name).Kind == Personal {
		prefix = s.PersonalPrefix()
	}
	return Canonical(name, delim, prefix)
}

// Canonical is the one form in which mailkeep shows folder names and
// matches them against patterns (ls, export, migrate, the config):
//
//   - the personal namespace prefix is taken off ("INBOX.Sent" -> "Sent"
//     where the prefix is "INBOX."), INBOX itself stays INBOX;
//   - the hierarchy delimiter is written "/" ("Archive.2020" ->
//     "Archive/2020" on a server whose delimiter is ".");
//   - INBOX is upper case, also as the first level ("inbox/x" -> "INBOX/x").
//
// delim is the server's hierarchy delimiter, 0 if flat; prefix the
// personal namespace prefix, "" if none (or the folder is not personal).
func Canonical(name string, delim rune, prefix string) string {
	if IsInbox(name) {
		return "INBOX"
	}
	if prefix != "" && len(name) > len(prefix) && hasPrefixFold(name, prefix) {
		name = name[len(prefix):]
	}
	if delim != 0 && delim != '/' {
		name = strings.ReplaceAll(name, string(delim), "/")
	}
	first, rest, found := strings.Cut(name, "/")
	if IsInbox(first) && first != "INBOX" {
		if found {
			return "INBOX/" + rest
		}
		return "INBOX"
	}
	return name
}

// IsInbox reports whether name is INBOX, in any case.
func IsInbox(name string) bool { return strings.EqualFold(name, "INBOX") }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Wanted is a choice of namespace kinds (the config's namespaces key);
// nil means the personal namespace only.
type Wanted []Kind

// Has reports whether k is chosen.
func (w Wanted) Has(k Kind) bool {
	if len(w) == 0 {
		return k == Personal
	}
	for _, x := range w {
		if x == k {
			return true
		}
	}
	return false
}

// Encode writes the set as text, for the archive.
func (s *Set) Encode() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Decode reads what Encode wrote; "" gives nil.
func Decode(text string) (*Set, error) {
	if text == "" {
		return nil, nil
	}
	s := &Set{}
	if err := json.Unmarshal([]byte(text), s); err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	return s, nil
}

// Guess infers a set from folder names alone, for servers without
// NAMESPACE and for archives made before mailkeep recorded it: a
// Courier-style layout (delimiter "." and every folder but INBOX under
// "INBOX.") has the personal prefix "INBOX."; anything else "".
func Guess(names []string, delim rune) *Set {
	s := &Set{Spaces: []Space{{Kind: Personal, Delim: delimString(delim)}}}
	if delim != '.' {
		return s
	}
	under := 0
	for _, n := range names {
		if IsInbox(n) {
			continue
		}
		if !hasPrefixFold(n, "INBOX.") {
			return s
		}
		under++
	}
	if under > 0 {
		s.Spaces[0].Prefix = "INBOX."
	}
	return s
}

func delimString(d rune) string {
	if d == 0 {
		return ""
	}
	return string(d)
}

// Recorded is the set an archive recorded for an account (text, as
// Encode wrote it), or for archives without one a guess from the archived
// folder names and their delimiter.
func Recorded(text string, names []string, delim rune) *Set {
	if s, err := Decode(text); err == nil && s != nil {
		return s
	}
	return Guess(names, delim)
}

// Relative is name with the personal prefix taken off if the folder is in
// the personal namespace, its delimiter kept ("INBOX.Archive.2020" ->
// "Archive.2020" where the prefix is "INBOX."): the levels of Canonical
// without rewriting them, for writers that map levels themselves.
func (s *Set) Relative(name string) string {
	if IsInbox(name) {
		return "INBOX"
	}
	p := s.PersonalPrefix()
	if p != "" && s.Kind(name) == Personal && len(name) > len(p) && hasPrefixFold(name, p) {
		return name[len(p):]
	}
	return name
}
