package imapsrv

import (
	"bytes"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// splitHeader cuts a message after the blank line that ends its header,
// which stays with the header (RFC 3501 6.4.5: BODY[HEADER] includes it).
// A blank line is "\r\n" or a bare "\n"; a message without one is all
// header. header+body is always raw.
func splitHeader(raw []byte) (header, body []byte) {
	for start := 0; start < len(raw); {
		i := bytes.IndexByte(raw[start:], '\n')
		if i < 0 {
			break
		}
		line := raw[start : start+i+1]
		end := start + i + 1
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			return raw[:end], raw[end:]
		}
		start = end
	}
	return raw, raw[len(raw):]
}

// headerField is one field of a header with its continuation lines, bytes
// as stored.
type headerField struct {
	name string // "" for a line that is not a field
	raw  []byte
}

// headerFields splits a header (blank line excluded or not) into fields.
func headerFields(header []byte) []headerField {
	var fields []headerField
	for start := 0; start < len(header); {
		end := len(header)
		if i := bytes.IndexByte(header[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		line := header[start:end]
		start = end
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the blank line
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			f := &fields[len(fields)-1]
			f.raw = f.raw[:len(f.raw)+len(line)] // contiguous in header
			continue
		}
		name := ""
		if i := bytes.IndexByte(line, ':'); i > 0 {
			name = strings.TrimRight(string(line[:i]), " \t")
			if strings.ContainsAny(name, " \t\r\n") {
				name = ""
			}
		}
		fields = append(fields, headerField{name: name, raw: line})
	}
	return fields
}

// value returns the field's unfolded value.
func (f headerField) value() string {
	_, v, _ := strings.Cut(string(f.raw), ":")
	v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	return strings.TrimSpace(v)
}

// headerValue returns the first value of a field, "" if absent.
func headerValue(raw []byte, name string) (string, bool) {
	h, _ := splitHeader(raw)
	for _, f := range headerFields(h) {
		if strings.EqualFold(f.name, name) {
			return f.value(), true
		}
	}
	return "", false
}

// bodySection returns a section of a message. The whole message, its
// header and its text are sub-slices of raw, byte for byte; parts of a
// message are left to go-imap's parser.
func bodySection(raw []byte, sec *imap.FetchItemBodySection) []byte {
	var b []byte
	switch {
	case len(sec.Part) > 0:
		b = imapserver.ExtractBodySection(bytes.NewReader(raw), &imap.FetchItemBodySection{
			Specifier:       sec.Specifier,
			Part:            sec.Part,
			HeaderFields:    sec.HeaderFields,
			HeaderFieldsNot: sec.HeaderFieldsNot,
		})
	case sec.Specifier == imap.PartSpecifierNone:
		b = raw
	case sec.Specifier == imap.PartSpecifierText:
		_, b = splitHeader(raw)
	case sec.Specifier == imap.PartSpecifierHeader && len(sec.HeaderFields) == 0 && len(sec.HeaderFieldsNot) == 0:
		b, _ = splitHeader(raw)
	case sec.Specifier == imap.PartSpecifierHeader:
		b = filterHeader(raw, sec.HeaderFields, sec.HeaderFieldsNot)
	default: // MIME of the whole message: RFC 3501 allows it only for parts
		b = nil
	}
	return partial(b, sec.Partial)
}

// filterHeader implements HEADER.FIELDS and HEADER.FIELDS.NOT: the chosen
// fields as stored, in their order, and a blank line.
func filterHeader(raw []byte, keep, drop []string) []byte {
	h, _ := splitHeader(raw)
	in := func(name string, list []string) bool {
		for _, n := range list {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		return false
	}
	var out []byte
	for _, f := range headerFields(h) {
		if len(keep) > 0 && (f.name == "" || !in(f.name, keep)) {
			continue
		}
		if len(drop) > 0 && f.name != "" && in(f.name, drop) {
			continue
		}
		out = append(out, f.raw...)
	}
	return append(out, "\r\n"...)
}

func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return b[len(b):]
	}
	end := int64(len(b))
	if p.Size >= 0 && p.Offset+p.Size < end {
		end = p.Offset + p.Size
	}
	return b[p.Offset:end]
}

// binarySection returns BINARY[part]: the whole message is its own bytes
// (RFC 3516 4.2 decodes only parts).
func binarySection(raw []byte, sec *imap.FetchItemBinarySection) []byte {
	if len(sec.Part) == 0 {
		return partial(raw, sec.Partial)
	}
	return imapserver.ExtractBinarySection(bytes.NewReader(raw), &imap.FetchItemBinarySection{
		Part:    sec.Part,
		Partial: sec.Partial,
	})
}
