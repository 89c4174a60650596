package mailfmt

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// mutf7Enc is RFC 3501 5.1.3's base64: ',' for '/', no padding.
var mutf7Enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").
	WithPadding(base64.NoPadding)

// EncodeMUTF7 writes a folder name level in IMAP's modified UTF-7 (RFC
// 3501 5.1.3), which is how Dovecot names Maildir++ folders on disk by
// default. Printable ASCII stays as it is, '&' becomes "&-".
func EncodeMUTF7(s string) string {
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		raw := make([]byte, 0, 2*len(run))
		for _, u := range run {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(mutf7Enc.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		run = utf16.AppendRune(run, r)
	}
	flush()
	return b.String()
}

// DecodeMUTF7 is the inverse of EncodeMUTF7. It refuses what no encoder
// writes (bad base64, lone surrogates, encoded printable ASCII), so that a
// name that merely contains '&' is not mistaken for an encoded one.
func DecodeMUTF7(s string) (string, error) {
	if !strings.Contains(s, "&") {
		if !utf8.ValidString(s) {
			return "", errors.New("not valid UTF-8")
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '&' {
			if c < 0x20 || c > 0x7e {
				return "", errors.New("raw 8-bit byte in a modified UTF-7 name")
			}
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errors.New("'&' without a closing '-'")
		}
		enc := s[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := mutf7Enc.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errors.New("bad base64 in a modified UTF-7 name")
		}
		units := make([]uint16, len(raw)/2)
		for j := range units {
			units[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError || (r >= 0x20 && r <= 0x7e) {
				return "", errors.New("invalid character in a modified UTF-7 name")
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

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
