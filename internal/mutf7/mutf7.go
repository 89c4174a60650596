// Package mutf7 is IMAP's modified UTF-7 (RFC 3501 5.1.3): how mailbox
// names travel over IMAP and how Dovecot names Maildir++ folders on disk.
package mutf7

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// b64 is RFC 3501 5.1.3's base64: ',' for '/', no padding.
var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").
	WithPadding(base64.NoPadding)

// Encode writes a mailbox name (or one level of it) in IMAP's modified UTF-7 (RFC
// 3501 5.1.3), which is how Dovecot names Maildir++ folders on disk by
// default. Printable ASCII stays as it is, '&' becomes "&-".
func Encode(s string) string {
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
		b.WriteString(b64.EncodeToString(raw))
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

// Decode is the inverse of Encode. It refuses what no encoder
// writes (bad base64, lone surrogates, encoded printable ASCII), so that a
// name that merely contains '&' is not mistaken for an encoded one.
func Decode(s string) (string, error) {
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
		raw, err := b64.DecodeString(enc)
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
