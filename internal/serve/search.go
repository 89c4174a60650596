package serve

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

// Search answers SEARCH and UID SEARCH. Text criteria (FROM, TO, CC,
// SUBJECT, BODY, TEXT) are looked up in the archive's full-text index:
// they match whole words and word beginnings (an FTS index has no
// substrings), over decoded headers and text. Other header fields are
// matched in the message itself; flags, dates, sizes and sets from the
// index rows.
func (s *session) Search(kind imapserver.NumKind, c *imap.SearchCriteria, _ *imap.SearchOptions) (*imap.SearchData, error) {
	sel := s.sel
	ev := &evaluator{s: s, sel: sel, fts: map[string]map[uint32]bool{}}
	res := imapsrv.NewSearchResult(kind)
	for i, m := range sel.msgs {
		ok, err := ev.match(c, i, m)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		res.Add(uint32(i+1), m.uid)
	}
	return res.Data(), nil
}

type evaluator struct {
	s   *session
	sel *selected
	fts map[string]map[uint32]bool // "key\x00value" -> served UIDs that match
	raw map[string][]byte          // uid and field -> the field, lower case
}

// day is the calendar day of t in its own zone (RFC 3501 6.4.4:
// "disregarding time and timezone").
func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (ev *evaluator) match(c *imap.SearchCriteria, i int, m *msg) (bool, error) {
	n := uint32(len(ev.sel.msgs))
	last := uint32(0)
	if n > 0 {
		last = ev.sel.msgs[n-1].uid
	}
	for _, set := range c.SeqNum {
		if !set.Contains(uint32(i+1)) && !seqStar(set, uint32(i+1), n) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if !set.Contains(imap.UID(m.uid)) && !uidStar(set, m.uid, last) {
			return false, nil
		}
	}
	d := day(m.date)
	if !c.Since.IsZero() && d.Before(day(c.Since)) {
		return false, nil
	}
	if !c.Before.IsZero() && !d.Before(day(c.Before)) {
		return false, nil
	}
	if !c.SentSince.IsZero() && d.Before(day(c.SentSince)) {
		return false, nil
	}
	if !c.SentBefore.IsZero() && !d.Before(day(c.SentBefore)) {
		return false, nil
	}
	for _, f := range c.Flag {
		if !flagSet(m, f) {
			return false, nil
		}
	}
	for _, f := range c.NotFlag {
		if flagSet(m, f) {
			return false, nil
		}
	}
	if c.Larger > 0 && m.size <= c.Larger {
		return false, nil
	}
	if c.Smaller > 0 && m.size >= c.Smaller {
		return false, nil
	}
	for _, h := range c.Header {
		key := strings.ToLower(h.Key)
		col := map[string]string{"from": "from", "to": "to", "cc": "cc", "subject": "subject"}[key]
		var ok bool
		var err error
		if col != "" {
			ok, err = ev.text(col, h.Value, m)
		} else {
			ok, err = ev.header(h.Key, h.Value, m)
		}
		if err != nil || !ok {
			return false, err
		}
	}
	for _, v := range c.Body {
		if ok, err := ev.text("body", v, m); err != nil || !ok {
			return false, err
		}
	}
	for _, v := range c.Text {
		if ok, err := ev.text("", v, m); err != nil || !ok {
			return false, err
		}
	}
	for _, not := range c.Not {
		ok, err := ev.match(&not, i, m)
		if err != nil || ok {
			return false, err
		}
	}
	for _, or := range c.Or {
		a, err := ev.match(&or[0], i, m)
		if err != nil {
			return false, err
		}
		b, err := ev.match(&or[1], i, m)
		if err != nil {
			return false, err
		}
		if !a && !b {
			return false, nil
		}
	}
	return true, nil
}

// flagSet reports a flag; \Recent is never set (nothing is new in an archive).
func flagSet(m *msg, f imap.Flag) bool { return hasFlag(m.flags, string(f)) }

// text matches a text criterion through the FTS index, once per search
// for the whole folder. A value with no word in it matches everything,
// as the empty substring does.
func (ev *evaluator) text(key, value string, m *msg) (bool, error) {
	if strings.IndexFunc(value, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) < 0 {
		return true, nil
	}
	k := key + "\x00" + value
	set, ok := ev.fts[k]
	if !ok {
		v := strings.TrimSpace(value)
		if !strings.HasSuffix(v, "*") {
			v += "*" // a word beginning matches, as a substring would
		}
		hits, err := ev.s.srv.opts.Repo.Search(ev.s.ctx(), archive.SearchQuery{
			Terms:    []archive.Term{{Key: key, Value: v}},
			FolderID: ev.sel.mb.folder.ID, IncludeDeleted: true,
		})
		if err != nil {
			return false, no(imap.ResponseCodeServerBug, "search: "+err.Error())
		}
		set = map[uint32]bool{}
		for _, h := range hits {
			set[uint32(h.ID)] = true
		}
		ev.fts[k] = set
	}
	return set[m.uid], nil
}

// header matches a header field the index does not hold (BCC, X-...):
// a case-insensitive substring of the field's value, in the message.
func (ev *evaluator) header(key, value string, m *msg) (bool, error) {
	if ev.raw == nil {
		ev.raw = map[string][]byte{}
	}
	ck := fmt.Sprint(m.uid, "\x00", strings.ToLower(key))
	raw, ok := ev.raw[ck]
	if !ok {
		b, err := ev.s.srv.opts.Repo.ReadMessage(ev.s.ctx(), m.hash)
		if err != nil {
			return false, no(imap.ResponseCodeServerBug, "cannot read the archived message")
		}
		h := imapsrv.BodySection(b, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{key}})
		raw = bytes.ToLower(h)
		ev.raw[ck] = raw
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return false, nil
	}
	return bytes.Contains(raw, bytes.ToLower([]byte(value))), nil
}
