package imapsrv

import (
	"bytes"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, _ *imap.SearchOptions) (*imap.SearchData, error) {
	sel := s.sel
	s.srv.mu.RLock()
	defer s.srv.mu.RUnlock()

	all := sel.targetsLocked(imap.SeqSet{{Start: 1, Stop: 0}})
	res := NewSearchResult(kind)
	for _, t := range all {
		if t.msg.expunged || !sel.matchLocked(t, criteria) {
			continue
		}
		res.Add(t.seq, t.msg.uid)
	}
	return res.Data(), nil
}

// day is the calendar day of t in its own zone, as SEARCH compares dates
// (RFC 3501 6.4.4: "disregarding time and timezone").
func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (sel *selected) matchLocked(t target, c *imap.SearchCriteria) bool {
	msg := t.msg
	for _, set := range c.SeqNum {
		if !inSet(set, t.seq, uint32(len(sel.view))) {
			return false
		}
	}
	for _, set := range c.UID {
		if len(sel.view) == 0 || !inSet(set, msg.uid, sel.view[len(sel.view)-1].msg.uid) {
			return false
		}
	}
	if !c.Since.IsZero() && day(msg.date).Before(day(c.Since)) {
		return false
	}
	if !c.Before.IsZero() && !day(msg.date).Before(day(c.Before)) {
		return false
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		v, _ := headerValue(msg.raw, "Date")
		sent, err := mail.ParseDate(v)
		if err != nil {
			return false
		}
		if !c.SentSince.IsZero() && day(sent).Before(day(c.SentSince)) {
			return false
		}
		if !c.SentBefore.IsZero() && !day(sent).Before(day(c.SentBefore)) {
			return false
		}
	}
	for _, hf := range c.Header {
		if !matchHeader(msg.raw, hf.Key, hf.Value) {
			return false
		}
	}
	for _, b := range c.Body {
		_, body := splitHeader(msg.raw)
		if !containsFold(body, b) {
			return false
		}
	}
	for _, txt := range c.Text {
		if !containsFold(msg.raw, txt) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !hasFlag(msg.flags, string(f)) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(msg.flags, string(f)) {
			return false
		}
	}
	if c.Larger > 0 && int64(len(msg.raw)) <= c.Larger {
		return false
	}
	if c.Smaller > 0 && int64(len(msg.raw)) >= c.Smaller {
		return false
	}
	for i := range c.Not {
		if sel.matchLocked(t, &c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !sel.matchLocked(t, &c.Or[i][0]) && !sel.matchLocked(t, &c.Or[i][1]) {
			return false
		}
	}
	if c.ModSeq != nil && msg.modSeq < c.ModSeq.ModSeq {
		return false
	}
	return true
}

// inSet reports whether n is in a sequence or UID set where "*" is star.
func inSet(set imap.NumSet, n, star uint32) bool {
	var ranges [][2]uint32
	switch set := set.(type) {
	case imap.SeqSet:
		for _, r := range set {
			ranges = append(ranges, [2]uint32{r.Start, r.Stop})
		}
	case imap.UIDSet:
		for _, r := range set {
			ranges = append(ranges, [2]uint32{uint32(r.Start), uint32(r.Stop)})
		}
	}
	for _, r := range ranges {
		lo, hi := r[0], r[1]
		if lo == 0 {
			lo = star
		}
		if hi == 0 {
			hi = star
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if lo <= n && n <= hi {
			return true
		}
	}
	return false
}

// matchHeader is RFC 3501 HEADER: a field named key whose value contains
// value; an empty value matches any such field.
func matchHeader(raw []byte, key, value string) bool {
	h, _ := splitHeader(raw)
	for _, f := range headerFields(h) {
		if strings.EqualFold(f.name, key) && containsFold([]byte(f.value()), value) {
			return true
		}
	}
	return false
}

func containsFold(b []byte, sub string) bool {
	if sub == "" {
		return true
	}
	return bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(sub)))
}
