package mailfmt

import (
	"strings"
	"unicode/utf8"
)

// escapeLevel makes one folder level usable as a file name: '%', '/',
// '\', control characters and a leading '.' become %XX, as do bytes that
// are not UTF-8. Everything else, non-ASCII letters included, stays.
func escapeLevel(s string) string {
	if s == "" {
		return "%00"
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		bad := r == utf8.RuneError && n == 1
		if bad || r == '%' || r == '/' || r == '\\' || r < 0x20 || r == 0x7f || (i == 0 && r == '.') {
			for j := 0; j < n; j++ {
				b.WriteByte('%')
				b.WriteByte("0123456789ABCDEF"[s[i+j]>>4])
				b.WriteByte("0123456789ABCDEF"[s[i+j]&15])
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unescapeLevel undoes escapeLevel. A '%' not followed by two hex digits
// is kept as it is (a file named by a person, not by mailkeep).
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
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[s[i]>>4])
			b.WriteByte("0123456789ABCDEF"[s[i]&15])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String(), true
}
