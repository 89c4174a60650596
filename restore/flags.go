package restore

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// flagPolicy decides which flags may be sent to a target folder. Only
// flags the folder's PERMANENTFLAGS allow are sent, keywords only when
// they are valid atoms, and never \Recent (RFC 3501 2.3.2: session state
// a client cannot set; Dovecot answers an APPEND carrying it with BAD).
type flagPolicy struct {
	listed   map[string]bool // lower-cased PERMANENTFLAGS (or FLAGS when PERMANENTFLAGS is missing)
	keywords bool            // \* : new keywords may be created
}

// systemFlags are the flags RFC 3501 defines that a client may set.
var systemFlags = map[string]bool{`\seen`: true, `\answered`: true, `\flagged`: true, `\deleted`: true, `\draft`: true}

// newFlagPolicy builds the policy from a SELECT answer. RFC 3501 7.1:
// without PERMANENTFLAGS every flag in FLAGS may be changed permanently;
// with neither, the system flags and keywords are assumed.
func newFlagPolicy(sel *imap.SelectData) *flagPolicy {
	p := &flagPolicy{listed: map[string]bool{}}
	src := sel.PermanentFlags
	if src == nil {
		src = sel.Flags
		if src == nil {
			for f := range systemFlags {
				p.listed[f] = true
			}
			p.keywords = true
			return p
		}
	}
	for _, f := range src {
		if f == imap.FlagWildcard {
			p.keywords = true
			continue
		}
		p.listed[strings.ToLower(string(f))] = true
	}
	return p
}

// filter returns the flags to send and those left off.
func (p *flagPolicy) filter(flags []string) (keep []imap.Flag, dropped []string) {
	for _, f := range flags {
		if p.allows(f) {
			keep = append(keep, imap.Flag(f))
		} else if f != "" {
			dropped = append(dropped, f)
		}
	}
	return keep, dropped
}

func (p *flagPolicy) allows(f string) bool {
	lf := strings.ToLower(f)
	switch {
	case f == "", lf == `\recent`:
		return false
	case strings.HasPrefix(f, `\`):
		return systemFlags[lf] && p.listed[lf] && validAtom(f[1:])
	default:
		return validAtom(f) && (p.keywords || p.listed[lf])
	}
}

// validAtom reports whether s is an IMAP atom (RFC 3501 9: ATOM-CHAR is any
// CHAR except atom-specials) and so can be sent as a keyword as it is.
func validAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f {
			return false
		}
		switch c {
		case '(', ')', '{', '%', '*', '"', '\\', ']':
			return false
		}
	}
	return true
}

// flagDiff returns what to add and remove to go from old to new (both in
// archive.JoinFlags form), each restricted to what the policy allows.
func (p *flagPolicy) flagDiff(old, new []string) (add, del []imap.Flag) {
	have := map[string]bool{}
	for _, f := range old {
		have[strings.ToLower(f)] = true
	}
	want := map[string]bool{}
	for _, f := range new {
		want[strings.ToLower(f)] = true
		if !have[strings.ToLower(f)] && p.allows(f) {
			add = append(add, imap.Flag(f))
		}
	}
	for _, f := range old {
		if !want[strings.ToLower(f)] && p.allows(f) {
			del = append(del, imap.Flag(f))
		}
	}
	return add, del
}

// flagKey is a stable text form of a flag list, for grouping STOREs.
func flagKey(fl []imap.Flag) string {
	s := make([]string, len(fl))
	for i, f := range fl {
		s[i] = string(f)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}
