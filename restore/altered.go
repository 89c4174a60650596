package restore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
)

// Targets that alter what they store. Cyrus (munge8bit, its default)
// replaces every raw 8-bit byte of the header section by "X", keeping the
// length; Dovecot turns bare LF into CRLF and NUL into 0x80. Such a copy
// is not the source's bytes: it is named in the result ("altered by the
// target"), and adoption must still recognise it, or a re-run after a
// crash appends it again. A message is at risk when its header has 8-bit
// bytes, or it has a NUL or a bare LF anywhere; only those are read back
// after their APPEND.

// masked is the form of raw in which every byte >= 0x80 of the header
// section (up to the first empty line) is "X": what Cyrus stores.
func masked(raw []byte) []byte {
	end := headerEnd(raw)
	i := slices.IndexFunc(raw[:end], func(c byte) bool { return c >= 0x80 })
	if i < 0 {
		return raw
	}
	out := bytes.Clone(raw)
	for ; i < end; i++ {
		if out[i] >= 0x80 {
			out[i] = 'X'
		}
	}
	return out
}

// headerEnd is the length of the header section: up to the first empty
// line (CRLF CRLF or LF LF), the whole message if there is none.
func headerEnd(raw []byte) int {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\n' {
			continue
		}
		if i == 0 || (i == 1 && raw[0] == '\r') {
			return i + 1 // no header at all
		}
		j := i + 1
		if j < len(raw) && raw[j] == '\r' {
			j++
		}
		if j < len(raw) && raw[j] == '\n' {
			return j + 1
		}
	}
	return len(raw)
}

// maskID is a Message-ID as a munging server keeps it.
func maskID(id string) string {
	if !slices.ContainsFunc([]byte(id), func(c byte) bool { return c >= 0x80 }) {
		return id
	}
	b := []byte(id)
	for i, c := range b {
		if c >= 0x80 {
			b[i] = 'X'
		}
	}
	return string(b)
}

// maskedHasher hashes a message as it streams past, in its masked form.
type maskedHasher struct {
	h      hash.Hash
	header bool // still in the header section
	atBOL  bool // at the start of a line (a CR may come first)
}

func newMaskedHasher() *maskedHasher {
	return &maskedHasher{h: sha256.New(), header: true, atBOL: true}
}

func (m *maskedHasher) Write(p []byte) (int, error) {
	if !m.header {
		return m.h.Write(p)
	}
	buf := bytes.Clone(p)
	for i, c := range buf {
		switch c {
		case '\n':
			if m.atBOL {
				m.header = false // an empty line: the body starts
			}
			m.atBOL = true
		case '\r':
			// part of a line end
		default:
			m.atBOL = false
			if c >= 0x80 {
				buf[i] = 'X'
			}
		}
		if !m.header {
			break
		}
	}
	return m.h.Write(buf)
}

func (m *maskedHasher) sum() archive.Hash {
	var out archive.Hash
	copy(out[:], m.h.Sum(nil))
	return out
}

// riskScanner watches the bytes of an APPEND for what targets are known
// to change: 8-bit header bytes, NUL, bare LF.
type riskScanner struct {
	rc     io.ReadCloser
	risky  *bool
	header bool
	atBOL  bool // at the start of a line (a CR may come first)
	cr     bool // the last byte was "\r"
}

func watchRisk(rc io.ReadCloser, risky *bool) io.ReadCloser {
	return &riskScanner{rc: rc, risky: risky, header: true, atBOL: true}
}

func (s *riskScanner) Read(p []byte) (int, error) {
	n, err := s.rc.Read(p)
	for _, c := range p[:n] {
		if *s.risky {
			break
		}
		switch {
		case c == 0, c == '\n' && !s.cr, c >= 0x80 && s.header:
			*s.risky = true
		}
		switch c {
		case '\n':
			if s.atBOL {
				s.header = false
			}
			s.atBOL = true
		case '\r':
		default:
			s.atBOL = false
		}
		s.cr = c == '\r'
	}
	return n, err
}

func (s *riskScanner) Close() error { return s.rc.Close() }

// repairedForm is what --repair-line-endings sends of raw.
func repairedForm(raw []byte) []byte {
	out, _ := crlf(raw)
	return out
}

// risky reports whether raw is of a kind targets alter.
func risky(raw []byte) bool {
	var r bool
	s := watchRisk(io.NopCloser(bytes.NewReader(raw)), &r)
	io.Copy(io.Discard, s)
	return r
}

// checkAltered reads back what the target stored for messages at risk
// that were appended with an APPENDUID, and names those it altered.
func (e *engine) checkAltered(tf *tfolder) error {
	check := tf.atRisk
	tf.atRisk = nil
	for _, p := range tf.unverified {
		// Adopted by Message-ID, size and date: whether the copy is the
		// source's bytes is known only for messages no target alters.
		if p.size > 64<<20 {
			continue
		}
		raw, err := e.repo.ReadMessage(e.ctx, p.hash)
		if err != nil {
			return archiveErr(err)
		}
		if risky(raw) {
			check = append(check, p)
		}
	}
	tf.unverified = nil
	if len(check) == 0 || tf.err != nil {
		return nil
	}
	ms := map[uint32]*foreignMsg{}
	byUID := map[uint32]*place{}
	for _, p := range check {
		if p.row == nil {
			continue
		}
		ms[p.row.UID] = &foreignMsg{uid: p.row.UID}
		byUID[p.row.UID] = p
	}
	// SELECT again: a connection may not see what others appended until
	// the folder is re-read.
	c, _, err := e.selectFolder(tf)
	if err != nil {
		return err
	}
	if err := hashAll(c.Client, ms); err != nil {
		return fmt.Errorf("read back from %s: %w", tf.name, err)
	}
	e.info(tf.name, fmt.Sprintf("read back %d messages of kinds targets alter (8-bit headers, NUL, bare LF)", len(ms)))
	for uid, m := range ms {
		p := byUID[uid]
		if !m.hashed || m.hash == p.hash {
			continue
		}
		if e.o.RepairLineEndings {
			// What was sent is the repaired form: that is no change of
			// the target's (the result lists it as repaired).
			raw, err := e.repo.ReadMessage(e.ctx, p.hash)
			if err != nil {
				return archiveErr(err)
			}
			if archive.HashBytes(repairedForm(raw)) == m.hash {
				continue
			}
		}
		e.noteAltered(tf, p, m)
	}
	return nil
}

// noteAltered names a copy the target stored other than the source sent.
func (e *engine) noteAltered(tf *tfolder, p *place, m *foreignMsg) {
	why := fmt.Sprintf("altered by the target: it stores other bytes (sha256 %s)", m.hash.String()[:16])
	if raw, err := e.repo.ReadMessage(e.ctx, p.hash); err == nil {
		if e.o.RepairLineEndings {
			raw = repairedForm(raw) // what was sent
		}
		switch {
		case archive.HashBytes(masked(raw)) == m.hash:
			n := 0
			for _, c := range raw[:headerEnd(raw)] {
				if c >= 0x80 {
					n++
				}
			}
			why = fmt.Sprintf("altered by the target: %d raw 8-bit header bytes stored as \"X\" (Cyrus munge8bit)", n)
		case slices.ContainsFunc(servedForms(raw), func(v []byte) bool { return archive.HashBytes(v) == m.hash }):
			why = "altered by the target: bare LF stored as CRLF or NUL as 0x80"
		}
	}
	s := p.skip(why)
	tf.res.Altered = append(tf.res.Altered, s)
	e.warn(tf.name, s.String())
}

// fetchHashes fetches the bodies of ms and sets their exact and masked
// hashes, streaming.
// hashAll fills in the hashes of every message in ms (by UID), 200 UIDs
// a FETCH.
func hashAll(c *imapclient.Client, ms map[uint32]*foreignMsg) error {
	uids := make([]uint32, 0, len(ms))
	for u := range ms {
		uids = append(uids, u)
	}
	slices.Sort(uids)
	for len(uids) > 0 {
		n := min(len(uids), 200)
		var set imap.UIDSet
		for _, u := range uids[:n] {
			set.AddNum(imap.UID(u))
		}
		uids = uids[n:]
		if err := fetchHashes(c, set, ms); err != nil {
			return err
		}
	}
	return nil
}

func fetchHashes(c *imapclient.Client, set imap.UIDSet, ms map[uint32]*foreignMsg) error {
	opts := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	fc := c.Fetch(set, opts)
	for {
		msg := fc.Next()
		if msg == nil {
			break
		}
		var uid uint32
		var exact, mask archive.Hash
		got := false
		for {
			it := msg.Next()
			if it == nil {
				break
			}
			switch d := it.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(d.UID)
			case imapclient.FetchItemDataBodySection:
				h, mh := sha256.New(), newMaskedHasher()
				if d.Literal != nil {
					if _, err := io.Copy(io.MultiWriter(h, mh), d.Literal); err != nil {
						fc.Close()
						return fmt.Errorf("uid %d: %w", uid, err)
					}
				}
				copy(exact[:], h.Sum(nil))
				mask, got = mh.sum(), true
			}
		}
		if m := ms[uid]; m != nil && got {
			m.hash, m.masked, m.hashed = exact, mask, true
		}
	}
	return fc.Close()
}
