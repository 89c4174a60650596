package imapsrv

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/imapconn"
)

// systemFlags are spelled the standard way whatever case a client used;
// keywords keep the case they were first stored with (RFC 3501 2.3.2: flags
// compare case-insensitively, but servers like Dovecot keep the spelling).
var systemFlags = []string{
	string(imap.FlagSeen),
	string(imap.FlagAnswered),
	string(imap.FlagFlagged),
	string(imap.FlagDeleted),
	string(imap.FlagDraft),
}

const flagRecent = `\Recent`

// normFlag returns the stored spelling of f, or "" for a flag that is never
// stored (\Recent is session state, not a stored flag).
func normFlag(f string) string {
	if strings.EqualFold(f, flagRecent) {
		return ""
	}
	for _, sf := range systemFlags {
		if strings.EqualFold(f, sf) {
			return sf
		}
	}
	return f
}

func hasFlag(flags []string, f string) bool {
	for _, have := range flags {
		if strings.EqualFold(have, f) {
			return true
		}
	}
	return false
}

// addFlags returns flags plus add, without duplicates; it reports whether
// anything changed. The existing spelling of a keyword wins.
func addFlags(flags, add []string) ([]string, bool) {
	changed := false
	for _, f := range add {
		f = normFlag(f)
		if f == "" || hasFlag(flags, f) {
			continue
		}
		flags = append(flags, f)
		changed = true
	}
	return flags, changed
}

func delFlags(flags, del []string) ([]string, bool) {
	out := flags[:0:0]
	for _, f := range flags {
		if hasFlag(del, f) {
			continue
		}
		out = append(out, f)
	}
	return out, len(out) != len(flags)
}

func setFlags(flags, set []string) ([]string, bool) {
	out, _ := addFlags(nil, set)
	if len(out) != len(flags) {
		return out, true
	}
	for _, f := range flags {
		if !hasFlag(out, f) {
			return out, true
		}
	}
	// Same set; keep the old spelling so nothing changes.
	return flags, false
}

func toIMAPFlags(flags []string) []imap.Flag {
	out := make([]imap.Flag, len(flags))
	for i, f := range flags {
		out[i] = imap.Flag(f)
	}
	return out
}

func fromIMAPFlags(flags []imap.Flag) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		out = append(out, string(f))
	}
	return out
}

// specialUses is mailkeep's one list of folder roles.
var specialUses = imapconn.SpecialUses

// normSpecialUse returns the standard spelling of a special-use attribute,
// or "" if a is not one (RFC 6154 2).
func normSpecialUse(a imap.MailboxAttr) imap.MailboxAttr {
	for _, su := range specialUses {
		if strings.EqualFold(string(a), string(su)) {
			return su
		}
	}
	return ""
}
