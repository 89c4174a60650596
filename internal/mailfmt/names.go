package mailfmt

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/mailkeep/mailkeep/internal/mutf7"
)

// How folder names become file names (README "Export file names"). A
// server may send any name at all: "..", "/", "a/../../b", NUL, ESC,
// 10,000 bytes. Each level of a name (the parts between delimiters) is
// encoded on its own, so no level can climb out of the export directory
// or split into two; the encoding is reversible, so import gives the
// levels back; and the Namer makes every folder's path unique, also on a
// case-insensitive file system, so no two folders share a file.
//
// The percent rule, for every format: a byte becomes %XX (upper-case
// hex) when it is
//   - a control character (0x00-0x1f, 0x7f) or not part of valid UTF-8;
//   - '/' or '\';
//   - a '.' at the start of the level (no ".", "..", or hidden files);
//   - a '%' followed by two hex digits (so "100%" stays "100%", while
//     "%41" is written "%2541");
//   - in mbox and .eml trees, the first letter of a level named cur, new
//     or tmp (a directory with those would read back as a Maildir), the
//     '.' of a level ending in ".eml" (.eml trees) or, for levels that
//     become directories, ".sbd" (Thunderbird's subfolder suffix).
//
// An empty level (the folder "/" has two) is "%00"; a NUL byte, which
// IMAP does not allow in a name, is written %00 too and read back as
// nothing. Decoding turns every %XX back into its byte and leaves any
// other '%' alone, so a file a person named "50%.mbox" imports as "50%".
//
// Maildir++ joins the levels with '.' into one directory name, in
// modified UTF-7 as Dovecot does. A '.' inside a level becomes U+2024
// (ONE DOT LEADER) and a '/' U+2215 (DIVISION SLASH), which Dovecot and
// mail clients show as a dot and a slash; a real U+2024 or U+2215 in a
// name is written %XX so that import can tell them apart.
//
// A path component longer than maxComponent bytes is cut, on a character
// boundary, and given "~" and 16 hex digits of the SHA-256 of its full
// form; the export directory's .mailkeep-names file maps it back.

// maxComponent bounds every path component mailkeep writes, leaving room
// under NAME_MAX (255) for ".mbox", ".tmp" and a leading '.'.
const maxComponent = 200

// NamesFile, in the root of an export, maps shortened components to
// their full encoded form, one "SHORT\tFULL" line each.
const NamesFile = ".mailkeep-names"

type levelKind int

const (
	levelMaildir levelKind = iota // one level of a Maildir++ folder name
	levelDir                      // a directory of an mbox or .eml tree
	levelMbox                     // the last level of an mbox path (".mbox" follows)
	levelEML                      // the last level of an .eml tree (a directory of .eml files)
)

// escapeLevel encodes one level as a file name (or, for Maildir, one
// part of one). extra escapes that many more letters (and non-ASCII
// characters), from the start: the Namer's way of making a name unique
// without changing what it decodes to.
func escapeLevel(s string, kind levelKind, extra int) string {
	if s == "" {
		return "%00"
	}
	if kind == levelMaildir {
		s = strings.NewReplacer("\u2024", "%E2%80%A4", "\u2215", "%E2%88%95").Replace(escapePercent(s))
		s = lookAlike.Replace(s)
	}
	// Decide per byte what is escaped, then write.
	esc := make([]bool, len(s))
	mark := func(i, n int) {
		for j := i; j < i+n && j < len(s); j++ {
			esc[j] = true
		}
	}
	reserved := kind != levelMaildir && (strings.EqualFold(s, "cur") || strings.EqualFold(s, "new") || strings.EqualFold(s, "tmp"))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1, r < 0x20, r == 0x7f, r == '/', r == '\\':
			mark(i, n)
		case i == 0 && (r == '.' || reserved):
			mark(i, n)
		case extra > 0 && r != '\u2024' && r != '\u2215' && (r >= utf8.RuneSelf || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			mark(i, n)
			extra--
		}
		i += n
	}
	low := strings.ToLower(s)
	switch {
	case kind == levelEML && strings.HasSuffix(low, ".eml") && len(s) > 4:
		mark(len(s)-4, 1)
	case kind == levelDir && strings.HasSuffix(low, ".sbd") && len(s) > 4:
		mark(len(s)-4, 1)
	}
	if kind != levelMaildir {
		markPercent(s, esc)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if esc[i] {
			writePct(&b, s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	out := b.String()
	if kind == levelMaildir {
		out = mutf7.Encode(out)
	}
	return out
}

// markPercent marks each '%' that would otherwise be read as the start
// of an escape: one followed by two hex digits written as they are.
func markPercent(s string, esc []bool) {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && !esc[i+1] && !esc[i+2] && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			esc[i] = true
		}
	}
}

// escapePercent applies the '%' rule alone (Maildir levels, before the
// look-alikes).
func escapePercent(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	esc := make([]bool, len(s))
	markPercent(s, esc)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if esc[i] {
			writePct(&b, s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func writePct(b *strings.Builder, c byte) {
	b.WriteByte('%')
	b.WriteByte("0123456789ABCDEF"[c>>4])
	b.WriteByte("0123456789ABCDEF"[c&15])
}

// unescapeLevel undoes escapeLevel's percent rule. A '%' not followed by
// two hex digits is kept as it is (a file named by a person, not by
// mailkeep); %00 is dropped (an empty level, or a NUL).
func unescapeLevel(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			v := byte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			if v != 0 {
				b = append(b, v)
			}
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// shorten cuts a component longer than maxComponent bytes and marks it
// with the hash of its full form. ok reports whether it did.
func shorten(full string) (short string, ok bool) {
	if len(full) <= maxComponent {
		return full, false
	}
	sum := sha256.Sum256([]byte(full))
	return safeCut(full, maxComponent-17) + "~" + hex.EncodeToString(sum[:8]), true
}

// safeCut returns a prefix of s of at most n bytes that splits neither a
// %XX escape, a UTF-8 character nor a modified UTF-7 "&...-" run.
func safeCut(s string, n int) string {
	end, i := 0, 0
	for i < len(s) {
		step := 1
		switch {
		case s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0:
			step = 3
		case s[i] == '&':
			if j := strings.IndexByte(s[i:], '-'); j >= 0 {
				step = j + 1
			} else {
				step = len(s) - i
			}
		case s[i] >= utf8.RuneSelf:
			_, step = utf8.DecodeRuneInString(s[i:])
		}
		if i+step > n {
			break
		}
		i += step
		end = i
	}
	return s[:end]
}

// SafeName makes a name read from disk usable as a folder name: bytes
// that are not UTF-8 become %XX. The bool says whether anything changed.
func SafeName(s string) (string, bool) {
	if utf8.ValidString(s) {
		return s, false
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			writePct(&b, s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String(), true
}
