package faultproxy

import (
	"bytes"
	"strconv"
)

// scanner follows the server-to-client IMAP stream well enough to know
// where responses end: lines, with literals ({n} at a line end, then n
// bytes) that belong to the response around them.
type scanner struct {
	litLeft      int64
	cont         bool   // the current response goes on after a literal
	segLen       int    // bytes of the current line so far
	head         []byte // first two bytes of the current response
	tail         []byte // last bytes of the current line
	ended        bool   // the last byte fed ended a response
	lastUntagged bool   // the last response that ended began with "* "
}

const tailLen = 32

func (s *scanner) feed(p []byte) {
	for len(p) > 0 {
		k, _ := s.step(p)
		p = p[k:]
	}
}

// untaggedEnd feeds p up to the end of the next untagged response and
// returns how many bytes that took, or feeds all of p and returns -1.
func (s *scanner) untaggedEnd(p []byte) int {
	for off := 0; off < len(p); {
		k, end := s.step(p[off:])
		off += k
		if end && s.lastUntagged {
			return off
		}
	}
	return -1
}

func (s *scanner) atUntaggedEnd() bool { return s.ended && s.lastUntagged }

// step consumes p up to the next line end or the end of a literal and
// reports whether a response ended there.
func (s *scanner) step(p []byte) (int, bool) {
	s.ended = false
	if s.litLeft > 0 {
		n := min(int64(len(p)), s.litLeft)
		s.litLeft -= n
		return int(n), false
	}
	seg := p
	i := bytes.IndexByte(p, '\n')
	if i >= 0 {
		seg = p[:i+1]
	}
	if s.segLen == 0 && !s.cont {
		s.head = s.head[:0]
	}
	if !s.cont && len(s.head) < 2 {
		s.head = append(s.head, seg[:min(len(seg), 2-len(s.head))]...)
	}
	s.segLen += len(seg)
	if len(seg) >= tailLen {
		s.tail = append(s.tail[:0], seg[len(seg)-tailLen:]...)
	} else {
		s.tail = append(s.tail, seg...)
		if len(s.tail) > tailLen {
			s.tail = s.tail[len(s.tail)-tailLen:]
		}
	}
	if i < 0 {
		return len(p), false
	}
	s.segLen = 0
	n, isLit := literalSize(s.tail)
	s.tail = s.tail[:0]
	if isLit {
		s.litLeft = n
		s.cont = true
		return i + 1, false
	}
	s.cont = false
	s.ended = true
	s.lastUntagged = string(s.head) == "* "
	return i + 1, true
}

// literalSize reads a literal header ("{n}", "~{n}") at the end of a line.
func literalSize(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line[i+1:len(line)-1]), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
