package archive

import (
	"bytes"
	"io"
	"mime"
	"strings"

	"github.com/mailkeep/mailkeep/internal/termsafe"
)

// HeaderInfo is what ls and restore's duplicate detection need from a
// message's header. It is derived from the stored bytes, never changes them.
type HeaderInfo struct {
	MessageID string
	Subject   string // RFC 2047 decoded where the charset is known
	From      string
	Date      string // the Date: header as written
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// ParseHeader reads the header fields of raw tolerantly: bare LF, missing
// separators, folded lines and junk are all accepted; it never fails.
func ParseHeader(raw []byte) HeaderInfo {
	var hi HeaderInfo
	wanted := func(name []byte) bool {
		for _, w := range [...]string{"message-id", "subject", "from", "date"} {
			if bytes.EqualFold(name, []byte(w)) {
				return true
			}
		}
		return false
	}
	eachField(raw, wanted, func(name, v string) bool {
		switch name {
		case "message-id":
			if hi.MessageID == "" {
				hi.MessageID = v
			}
		case "subject":
			if hi.Subject == "" {
				hi.Subject = decodeWords(v)
			}
		case "from":
			if hi.From == "" {
				hi.From = decodeWords(v)
			}
		case "date":
			if hi.Date == "" {
				hi.Date = v
			}
		}
		return true
	})
	hi.Subject = clean(hi.Subject)
	hi.From = clean(hi.From)
	hi.Date = clean(hi.Date)
	hi.MessageID = clean(hi.MessageID)
	return hi
}

// dateField is the Date: header of raw as written (folded lines joined),
// found without decoding the other fields: what a message that is being
// stored needs.
func dateField(raw []byte) string {
	var date string
	eachField(raw, func(name []byte) bool { return bytes.EqualFold(name, []byte("date")) }, func(_, v string) bool {
		date = v
		return false
	})
	return clean(date)
}

// eachField walks the header of raw (its first 64 KiB at most) and gives
// fn each field whose name wanted accepts: the name in lower case and the
// value with folded lines joined and white space trimmed, until fn
// returns false. Lines without a colon ("From " lines, junk) are skipped.
func eachField(raw []byte, wanted func(name []byte) bool, fn func(name, value string) bool) {
	if len(raw) > 64<<10 {
		raw = raw[:64<<10]
	}
	var name string
	var value []byte
	in := false
	flush := func() bool {
		if !in {
			return true
		}
		in = false
		return fn(name, strings.TrimSpace(string(value)))
	}
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if in {
				value = append(value, ' ')
				value = append(value, bytes.TrimSpace(line)...)
			}
			continue
		}
		if !flush() {
			return
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		if n := bytes.TrimSpace(line[:i]); wanted(n) {
			in, name = true, strings.ToLower(string(n))
			value = append(value[:0], line[i+1:]...)
		}
	}
	flush()
}

func decodeWords(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// clean makes a header value safe to show on one line: valid UTF-8,
// bounded length, white space of folded lines as spaces, every other
// control character escaped as every output of mailkeep escapes it
// (internal/termsafe: ESC is shown as \x1b, never sent to a terminal).
func clean(s string) string {
	if len(s) > 500 {
		s = s[:500]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	return termsafe.String(s)
}

// charsetReader knows the charsets that cover nearly all real mail headers
// without pulling in a charset library; others stay encoded.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "windows-1252", "cp1252", "iso-8859-15":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return strings.NewReader(sb.String()), nil
	case "us-ascii", "ascii":
		return input, nil
	}
	return nil, errUnknownCharset
}

type charsetError string

func (e charsetError) Error() string { return string(e) }

const errUnknownCharset = charsetError("unknown charset")
