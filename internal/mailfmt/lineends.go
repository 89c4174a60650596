package mailfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// LineEndings chooses the line ends of exported messages. Mail travels
// with CRLF (RFC 5322), and that is what the archive holds; on disk,
// Dovecot, mutt, notmuch and mbsync keep LF, and mutt shows a stray "^M"
// on every line of a CRLF file.
//
// A conversion is made only where it can be undone exactly: LF is
// written for a message whose every line ends in CRLF (and that holds no
// CR before a CRLF), CRLF for one whose every line ends in a bare LF.
// Any other message (mixed line ends, a lone CR before CRLF) is written
// as it is. Import does the reverse: a message in one of the two forms
// whose other form is archived is recognised as that message
// (AltLineEndings), so importing an export adds nothing new.
type LineEndings string

const (
	LinesExact LineEndings = "exact" // the archived bytes
	LinesLF    LineEndings = "lf"
	LinesCRLF  LineEndings = "crlf"
)

// DefaultLineEndings is what each format gets unless told: LF for
// Maildir and mbox (the local convention), the exact bytes for .eml.
func DefaultLineEndings(f Format) LineEndings {
	if f == EML {
		return LinesExact
	}
	return LinesLF
}

// ParseLineEndings checks the --line-endings value; "" means the
// format's default.
func ParseLineEndings(s string) (LineEndings, error) {
	switch l := LineEndings(strings.ToLower(s)); l {
	case "", LinesExact, LinesLF, LinesCRLF:
		return l, nil
	}
	return "", fmt.Errorf("unknown line endings %q (want exact, lf or crlf)", s)
}

// pureCRLF: has CRLF, every LF follows a CR, no CR right before a CRLF.
// pureLF: has LF and no CRLF. These are the forms converted reversibly.
func lineForm(b []byte) (pureCRLF, pureLF bool) {
	var s lineScan
	s.feed(b)
	return s.result()
}

// lineScan finds a message's line-end form in one streaming pass.
type lineScan struct {
	prev, prev2 byte
	crlf, lf    int // line ends seen
	bad         bool
	n           int64 // bytes seen
}

func (s *lineScan) feed(b []byte) {
	for _, c := range b {
		if c == '\n' {
			if s.prev == '\r' {
				s.crlf++
				if s.prev2 == '\r' {
					s.bad = true // "\r\r\n" would come back as "\r\n"
				}
			} else {
				s.lf++
			}
		}
		s.prev2, s.prev = s.prev, c
	}
	s.n += int64(len(b))
}

func (s *lineScan) result() (pureCRLF, pureLF bool) {
	return s.crlf > 0 && s.lf == 0 && !s.bad, s.lf > 0 && s.crlf == 0
}

// ConvertLineEndings returns raw with the line ends to, and whether it
// converted anything (a message that cannot be converted reversibly, or
// needs nothing, comes back as it is).
func ConvertLineEndings(raw []byte, to LineEndings) ([]byte, bool) {
	crlf, lf := lineForm(raw)
	switch {
	case to == LinesLF && crlf:
		return bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), true
	case to == LinesCRLF && lf:
		return bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")), true
	}
	return raw, false
}

// ScanLineEndings reads a message once and reports whether it would be
// converted to the line ends to, and its size after conversion.
func ScanLineEndings(r io.Reader, to LineEndings) (convert bool, size int64, err error) {
	var s lineScan
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		s.feed(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, 0, err
		}
	}
	crlf, lf := s.result()
	switch {
	case to == LinesLF && crlf:
		return true, s.n - int64(s.crlf), nil
	case to == LinesCRLF && lf:
		return true, s.n + int64(s.lf), nil
	}
	return false, s.n, nil
}

// ScanLineForm reads a message once and reports which reversible form
// its line ends have: every line in CRLF (crlf) or in bare LF (lf).
func ScanLineForm(r io.Reader) (crlf, lf bool, err error) {
	var s lineScan
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		s.feed(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, false, err
		}
	}
	crlf, lf = s.result()
	return crlf, lf, nil
}

// NewLineConverter converts, streaming, a message that ScanLineEndings
// said to convert.
func NewLineConverter(r io.Reader, to LineEndings) io.Reader {
	return &lineConv{r: r, to: to, in: make([]byte, 32<<10)}
}

type lineConv struct {
	r         io.Reader
	to        LineEndings
	in, out   []byte
	buf       []byte
	pendingCR bool // LF: a CR held back until the next byte is seen
	err       error
}

func (c *lineConv) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		n, err := c.r.Read(c.in)
		c.buf = c.convert(c.buf[:0], c.in[:n])
		if err != nil {
			if c.pendingCR {
				c.buf = append(c.buf, '\r')
				c.pendingCR = false
			}
			c.err = err
		}
		c.out = c.buf
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func (c *lineConv) convert(dst, src []byte) []byte {
	for _, b := range src {
		if c.to == LinesCRLF {
			if b == '\n' {
				dst = append(dst, '\r')
			}
			dst = append(dst, b)
			continue
		}
		if c.pendingCR {
			c.pendingCR = false
			if b == '\n' {
				dst = append(dst, '\n')
				continue
			}
			dst = append(dst, '\r')
		}
		if b == '\r' {
			c.pendingCR = true
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

// AltLineEndings is the other reversible form of a message read from a
// file: CRLF for a message with LF line ends only, LF for one with CRLF
// only; nil if it has neither form. Import looks it up when the bytes
// themselves are not archived.
func AltLineEndings(raw []byte) []byte {
	crlf, lf := lineForm(raw)
	switch {
	case lf:
		return bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
	case crlf:
		return bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	}
	return nil
}
