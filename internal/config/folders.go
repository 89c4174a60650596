package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/mailkeep/mailkeep/internal/namespace"
)

// FolderFilter picks folders by name. Patterns are matched against the
// whole folder name in its canonical form (namespace.Canonical): the
// personal namespace prefix taken off ("INBOX.Sent" is "Sent" on a server
// whose personal prefix is "INBOX."), "/" as the delimiter; the form ls,
// export and migrate show.
//
//   - "*" matches any run of characters, hierarchy delimiters included
//     ("Archive*" matches "Archive", "Archive2" and "Archive/2020/Q1");
//   - "%" matches any run of characters within one level ("Archive/%"
//     matches "Archive/2020" but not "Archive/2020/Q1");
//   - every other character matches itself: "[Gmail]/Spam" is literal,
//     there are no character classes and no escapes.
//
// "/" in a pattern always stands for the server's hierarchy delimiter, so
// one pattern works on servers that use "/" and on servers that use ".";
// the server's own delimiter may be written too ("Archive.2020" on a
// server whose delimiter is "."). Matching is case-sensitive except for
// INBOX, whose name is case-insensitive (RFC 3501 5.1), also as the first
// level of a longer name ("inbox/Receipts").
type FolderFilter struct {
	Include []string // empty: every folder
	Exclude []string // wins over Include
}

// Match reports whether the folder name passes the filter. name is the
// canonical name (namespace.Canonical, or Set.Canonical) and delim the
// server's hierarchy delimiter, 0 if it has none.
func (f FolderFilter) Match(name string, delim rune) bool {
	name = canonFolder(name, delim)
	if len(f.Include) > 0 && !matchAny(f.Include, name, delim) {
		return false
	}
	return !matchAny(f.Exclude, name, delim)
}

func matchAny(patterns []string, name string, delim rune) bool {
	for _, p := range patterns {
		if glob(canonFolder(p, delim), name) {
			return true
		}
	}
	return false
}

// canonFolder writes the server's delimiter as "/" and INBOX in upper case
// (namespace.Canonical without a prefix to take off).
func canonFolder(s string, delim rune) string {
	if delim == '*' || delim == '%' {
		delim = 0
	}
	return namespace.Canonical(s, delim, "")
}

// Unmatched returns the patterns of the filter (include and exclude) that
// match none of the folders, each written "folder pattern \"X\"" or
// "exclude pattern \"X\"". names are canonical, delim the server's. A
// pattern that matches nothing is a typo more often than not: cleanup
// refuses to run with one, backup warns.
func (f FolderFilter) Unmatched(names []string, delim rune) []string {
	var out []string
	for _, set := range []struct {
		what     string
		patterns []string
	}{{"folder", f.Include}, {"exclude", f.Exclude}} {
		for _, p := range set.patterns {
			hit := false
			for _, n := range names {
				if glob(canonFolder(p, delim), canonFolder(n, delim)) {
					hit = true
					break
				}
			}
			if !hit {
				out = append(out, fmt.Sprintf("%s pattern %q", set.what, p))
			}
		}
	}
	return out
}

// glob matches name against a pattern of "*" and "%" (see FolderFilter),
// by dynamic programming over bytes: the wildcards and "/" are ASCII, so
// multi-byte UTF-8 characters never split, and there is no backtracking
// to blow up on patterns like "*a*a*a*b".
func glob(pattern, name string) bool {
	prev := make([]bool, len(name)+1)
	cur := make([]bool, len(name)+1)
	prev[0] = true
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			cur[0] = prev[0]
			for j := 1; j <= len(name); j++ {
				cur[j] = prev[j] || cur[j-1]
			}
		case '%':
			cur[0] = prev[0]
			for j := 1; j <= len(name); j++ {
				cur[j] = prev[j] || (cur[j-1] && name[j-1] != '/')
			}
		default:
			cur[0] = false
			for j := 1; j <= len(name); j++ {
				cur[j] = prev[j-1] && name[j-1] == c
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(name)]
}

// checkPattern reports a folder pattern that can never be meant.
func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty folder pattern")
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return fmt.Errorf("folder pattern %s contains a control character", quote(p))
		}
	}
	return nil
}

// checkFolderMapEntry checks one folder_map entry: exact names on both
// sides, or a subtree written "Source/*": "Target/*".
func checkFolderMapEntry(from, to string) error {
	for _, s := range []string{from, to} {
		if s == "" {
			return errors.New("empty folder name")
		}
		if err := checkPattern(s); err != nil {
			return err
		}
		if strings.Contains(strings.TrimSuffix(s, "/*"), "*") || strings.Contains(s, "%") || s == "/*" {
			return fmt.Errorf("%s: only a trailing \"/*\" may be used as a wildcard", quote(s))
		}
	}
	if strings.HasSuffix(from, "/*") != strings.HasSuffix(to, "/*") {
		return fmt.Errorf("%s maps to %s: a subtree (\"/*\") must map to a subtree", quote(from), quote(to))
	}
	return nil
}

// MapFolder returns the name a source folder gets in this account
// according to folder_map, written with "/" as the delimiter, and whether
// an entry applied. name is the source folder's canonical name
// (namespace.Canonical) and delim the source server's delimiter. An
// exact entry wins over a subtree; "A/*" covers A itself and everything
// under it, and the longest matching subtree wins.
func (a *Account) MapFolder(name string, delim rune) (string, bool) {
	name = canonFolder(name, delim)
	keys := make([]string, 0, len(a.FolderMap))
	for k := range a.FolderMap {
		keys = append(keys, k)
	}
	// Longest first, so that the first subtree that matches is the deepest.
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		if canonFolder(k, '/') == name {
			return canonFolder(a.FolderMap[k], '/'), true
		}
	}
	for _, k := range keys {
		root, ok := strings.CutSuffix(canonFolder(k, '/'), "/*")
		if !ok {
			continue
		}
		target := strings.TrimSuffix(canonFolder(a.FolderMap[k], '/'), "/*")
		if name == root {
			return target, true
		}
		if rest, ok := strings.CutPrefix(name, root+"/"); ok {
			return target + "/" + rest, true
		}
	}
	return name, false
}
