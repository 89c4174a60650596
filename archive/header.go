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
	if len(raw) > 64<<10 {
		raw = raw[:64<<10]
	}
	var name string
	var value []byte
	flush := func() {
		if name == "" {
			return
		}
		v := strings.TrimSpace(string(value))
		switch name {
		case "message-id":
			if hi.MessageID == "" {
				hi.MessageID = strings.TrimSpace(v)
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
		name, value = "", nil
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
			if name != "" {
				value = append(value, ' ')
				value = append(value, bytes.TrimSpace(line)...)
			}
			continue
		}
		flush()
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue // "From " lines and junk
		}
		name = strings.ToLower(string(bytes.TrimSpace(line[:i])))
		value = append([]byte(nil), line[i+1:]...)
	}
	flush()
	hi.Subject = clean(hi.Subject)
	hi.From = clean(hi.From)
	hi.Date = clean(hi.Date)
	hi.MessageID = clean(hi.MessageID)
	return hi
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

// dateField is the Date: header of raw as written (folded lines joined),
// found without parsing the rest of the header: what a message that is
// being stored needs (ParseHeader decodes every field it knows).
func dateField(raw []byte) string {
	if len(raw) > 64<<10 {
		raw = raw[:64<<10]
	}
	var value []byte
	in := false
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if in {
				value = append(value, ' ')
				value = append(value, bytes.TrimSpace(line)...)
			}
			continue
		}
		if in {
			break
		}
		if len(line) > 5 && line[4] == ':' && bytes.EqualFold(line[:4], []byte("date")) {
			in = true
			value = append(value, bytes.TrimSpace(line[5:])...)
		} else if i := bytes.IndexByte(line, ':'); i > 4 && bytes.EqualFold(bytes.TrimSpace(line[:i]), []byte("date")) {
			in = true
			value = append(value, bytes.TrimSpace(line[i+1:])...)
		}
	}
	return clean(strings.TrimSpace(string(value)))
}
