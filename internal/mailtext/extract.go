package mailtext

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode every common charset
	"github.com/emersion/go-message/mail"
)

// MaxBody caps the body text kept of one message: enough for any letter,
// and a mailbox of logs or newsletters does not blow up the index.
const MaxBody = 256 << 10

// Doc is what the search index holds of a message.
type Doc struct {
	From, To, Cc string // addresses with their display names, decoded
	Subject      string
	Body         string // the text parts, decoded; HTML stripped
	Date         time.Time
	HasDate      bool
	Attachments  int // parts that are not the message's text
}

// Extract reads raw tolerantly and returns its searchable text.
func Extract(raw []byte) Doc {
	var d Doc
	ent, err := message.Read(bytes.NewReader(raw))
	if ent == nil {
		d.Body = clip(fallbackBody(raw, err))
		return d
	}
	h := mail.Header{Header: ent.Header}
	d.From = addresses(h, "From", "Sender")
	d.To = addresses(h, "To")
	d.Cc = addresses(h, "Cc")
	d.Subject = text(h, "Subject")
	if t, err := h.Date(); err == nil && !t.IsZero() && t.Year() >= 1970 {
		d.Date, d.HasDate = t, true
	}
	var body strings.Builder
	walk(ent, func(p *part) {
		if p.isText() && !p.attachment {
			s := p.read()
			if p.mediaType == "text/html" {
				s = StripHTML(s)
			}
			if body.Len() < MaxBody {
				body.WriteString(s)
				body.WriteString("\n")
			}
			return
		}
		if !strings.HasPrefix(p.mediaType, "multipart/") {
			d.Attachments++
		}
	})
	d.Body = clip(body.String())
	return d
}

// addresses is an address header as text: "Name <addr>, ...", decoded; a
// header that does not parse as addresses is kept as decoded text.
func addresses(h mail.Header, keys ...string) string {
	for _, k := range keys {
		if !h.Has(k) {
			continue
		}
		list, err := h.AddressList(k)
		if err != nil || len(list) == 0 {
			return text(h, k)
		}
		parts := make([]string, len(list))
		for i, a := range list {
			if a.Name != "" {
				parts[i] = a.Name + " <" + a.Address + ">"
			} else {
				parts[i] = a.Address
			}
		}
		return strings.Join(parts, ", ")
	}
	return ""
}

// text is one header field, RFC 2047 decoded where the charset is known,
// else as written.
func text(h mail.Header, k string) string {
	s, err := h.Text(k)
	if err != nil || s == "" {
		s = h.Get(k)
	}
	return validUTF8(strings.TrimSpace(s))
}

func clip(s string) string {
	if len(s) <= MaxBody {
		return s
	}
	s = s[:MaxBody]
	for len(s) > 0 && !utf8.ValidString(s[len(s)-3:]) {
		s = s[:len(s)-1]
	}
	return s
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// fallbackBody is the text after the header of a message go-message
// could not read at all (no header/body separator, a broken header).
func fallbackBody(raw []byte, _ error) string {
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		raw = raw[i+2:]
	} else if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		raw = raw[i+4:]
	}
	return validUTF8(string(raw))
}

// part is one leaf (or multipart container) of a message, in walk order.
type part struct {
	number     int // 1-based, leaves only; 0 for containers
	mediaType  string
	filename   string
	attachment bool
	ent        *message.Entity
}

func (p *part) isText() bool {
	return p.mediaType == "text/plain" || p.mediaType == "text/html" || p.mediaType == ""
}

func (p *part) read() string {
	b, err := io.ReadAll(io.LimitReader(p.ent.Body, 4*MaxBody))
	if err != nil && len(b) == 0 {
		return ""
	}
	return validUTF8(string(b))
}

// walk calls fn for every part of ent, leaves numbered from 1. A part
// whose charset or encoding is unknown is still handed over (undecoded);
// a broken multipart ends the walk quietly with what was read.
func walk(ent *message.Entity, fn func(*part)) {
	n := 0
	ent.Walk(func(path []int, e *message.Entity, err error) error {
		if e == nil {
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return err
			}
			return nil
		}
		mt, params, _ := e.Header.ContentType()
		mt = strings.ToLower(mt)
		p := &part{mediaType: mt, ent: e}
		if strings.HasPrefix(mt, "multipart/") {
			fn(p)
			return nil
		}
		n++
		p.number = n
		disp, dparams, _ := e.Header.ContentDisposition()
		p.filename = dparams["filename"]
		if p.filename == "" {
			p.filename = params["name"]
		}
		p.attachment = strings.EqualFold(disp, "attachment") || (p.filename != "" && !strings.EqualFold(disp, "inline"))
		if mt == "" && len(path) == 0 {
			p.mediaType = "text/plain"
		}
		fn(p)
		return nil
	})
}

// ErrNoPart is returned for a part number the message does not have.
var ErrNoPart = errors.New("no such part")
