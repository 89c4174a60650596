package mailtext

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Part describes one leaf part of a message, as show lists it.
type Part struct {
	Number     int // 1-based, in the order the parts appear
	Type       string
	Filename   string
	Size       int64 // decoded bytes
	Attachment bool
}

// Header is one header field, decoded for reading.
type Header struct{ Name, Value string }

// Readable is a message as show prints it: the main header fields, the
// text of its body and its parts.
type Readable struct {
	Headers []Header
	Body    string
	Parts   []Part
}

// Read decodes raw for reading: From, To, Cc, Date, Subject (decoded), the
// plain text body (or, without one, the HTML body stripped), and the list
// of parts.
func Read(raw []byte) Readable {
	var r Readable
	ent, err := message.Read(bytes.NewReader(raw))
	if ent == nil {
		r.Body = fallbackBody(raw, err)
		return r
	}
	h := mail.Header{Header: ent.Header}
	for _, k := range []string{"From", "To", "Cc", "Date", "Subject"} {
		if !h.Has(k) {
			continue
		}
		v := text(h, k)
		if k == "From" || k == "To" || k == "Cc" {
			v = addresses(h, k)
		}
		r.Headers = append(r.Headers, Header{k, v})
	}
	var plain, htmlText strings.Builder
	walk(ent, func(p *part) {
		if p.number == 0 {
			return
		}
		var body string
		var size int64
		if p.isText() && !p.attachment {
			body = p.read()
			size = int64(len(body))
			switch p.mediaType {
			case "text/html":
				htmlText.WriteString(StripHTML(body) + "\n")
			default:
				plain.WriteString(body)
			}
		} else {
			size, _ = io.Copy(io.Discard, p.ent.Body)
		}
		r.Parts = append(r.Parts, Part{Number: p.number, Type: p.mediaType, Filename: p.filename, Size: size,
			Attachment: p.attachment || !p.isText()})
	})
	r.Body = plain.String()
	if strings.TrimSpace(r.Body) == "" {
		r.Body = htmlText.String()
	}
	return r
}

// PartBody returns part n (as numbered by Read) decoded from its transfer
// encoding; text parts are also converted to UTF-8.
func PartBody(raw []byte, n int) ([]byte, Part, error) {
	ent, err := message.Read(bytes.NewReader(raw))
	if ent == nil {
		return nil, Part{}, fmt.Errorf("part %d: %w", n, err)
	}
	var out []byte
	var found Part
	var readErr error
	walk(ent, func(p *part) {
		if p.number != n || found.Number != 0 {
			return
		}
		found = Part{Number: n, Type: p.mediaType, Filename: p.filename, Attachment: p.attachment || !p.isText()}
		out, readErr = io.ReadAll(p.ent.Body)
		found.Size = int64(len(out))
	})
	if found.Number == 0 {
		return nil, Part{}, fmt.Errorf("part %d: %w", n, ErrNoPart)
	}
	if readErr != nil {
		return out, found, fmt.Errorf("part %d: %w", n, readErr)
	}
	return out, found, nil
}
