package restore

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
)

// Adoption: a target folder may hold mail the ledger does not explain (a
// first run into an account that already has part of the mail, a lost
// ledger, a crash between APPEND and checkpoint). Before appending, those
// messages are read cheaply (Message-ID, size, INTERNALDATE) and matched
// with the source places still to copy; only where that is ambiguous (no
// Message-ID, two different source messages sharing Message-ID and size,
// dates that differ) are bodies fetched and compared by SHA-256, also in
// the forms a server may have stored (bare LF made CRLF, NUL made 0x80).

// foreignMsg is a target message the ledger does not explain.
type foreignMsg struct {
	uid     uint32
	size    int64
	date    time.Time
	msgid   string
	flags   string
	hashed  bool
	hash    archive.Hash
	masked  archive.Hash // hash of its masked form (see masked)
	claimed bool
}

type foreignSet struct {
	byID map[string][]*foreignMsg
	noID []*foreignMsg
}

// ensureSelected selects tf on the planner's connection unless it is.
func (e *engine) ensureSelected(tf *tfolder) (*imapconn.Conn, error) {
	c, err := e.planner()
	if err != nil {
		return nil, err
	}
	if e.selConn == c && e.selName == tf.name {
		return c, nil
	}
	c, _, err = e.selectFolder(tf)
	return c, err
}

// loadForeign reads Message-ID, size, INTERNALDATE and flags of the
// target messages uids.
func (e *engine) loadForeign(tf *tfolder, uids []uint32) error {
	if tf.foreign == nil {
		tf.foreign = &foreignSet{byID: map[string][]*foreignMsg{}}
	}
	if len(uids) == 0 {
		return nil
	}
	c, err := e.ensureSelected(tf)
	if err != nil {
		return err
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}
	opts := &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{section}}
	for len(uids) > 0 {
		n := min(len(uids), 1000)
		var set imap.UIDSet
		for _, u := range uids[:n] {
			set.AddNum(imap.UID(u))
		}
		uids = uids[n:]
		err := imapconn.EachMessage(c.Fetch(set, opts), func(buf *imapclient.FetchMessageBuffer) error {
			m := &foreignMsg{uid: uint32(buf.UID), size: buf.RFC822Size, date: buf.InternalDate,
				msgid: archive.ParseHeader(buf.FindBodySection(section)).MessageID,
				flags: archive.JoinFlags(imapconn.FlagStrings(buf.Flags))}
			if m.msgid == "" {
				tf.foreign.noID = append(tf.foreign.noID, m)
			} else {
				// Keyed as a munging target keeps it: the source's 8-bit
				// bytes in a Message-ID come back as "X".
				k := maskID(m.msgid)
				tf.foreign.byID[k] = append(tf.foreign.byID[k], m)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fetch headers in %s: %w", tf.name, err)
		}
	}
	return nil
}

func (fs *foreignSet) pool(p *place) []*foreignMsg {
	src := fs.noID
	if p.msgid != "" {
		src = fs.byID[maskID(p.msgid)]
	}
	var out []*foreignMsg
	for _, m := range src {
		if !m.claimed {
			out = append(out, m)
		}
	}
	return out
}

// adopt matches places with target mail the ledger does not explain and
// returns those left to append. how is archive.LedgerAdopt for mail found
// there, archive.LedgerAppend when looking for what this run appended.
func (e *engine) adopt(tf *tfolder, need []*place, how string) ([]*place, error) {
	if tf.foreign == nil {
		if err := e.loadForeign(tf, tf.unknown); err != nil {
			return nil, err
		}
	}
	fs := tf.foreign
	var deep, left []*place
	for _, p := range need {
		pool := fs.pool(p)
		if len(pool) == 0 {
			left = append(left, p)
			continue
		}
		if p.msgid != "" && len(tf.keys[matchKey(maskID(p.msgid), p.size)]) == 1 {
			// Message-ID and size identify the message among the source's:
			// the date settles it.
			var hit *foreignMsg
			for _, m := range pool {
				if m.size == p.size && (p.date.IsZero() || m.date.Equal(p.date)) {
					hit = m
					break
				}
			}
			if hit != nil {
				if err := e.claim(tf, hit, p, how, false); err != nil {
					return nil, err
				}
				tf.unverified = append(tf.unverified, p)
				continue
			}
		}
		deep = append(deep, p)
	}
	if len(deep) == 0 {
		return left, nil
	}
	more, err := e.deepMatch(tf, deep, how)
	return append(left, more...), err
}

// deepMatch compares bodies by SHA-256, fetching only the candidates:
// first exactly (also in the forms a server may have stored, see
// servedForms), then, for the places left, in the masked form a munging
// target stores (see masked). Exact matches go first: two source messages
// that differ only in 8-bit header bytes are one message to such a target,
// and a copy that is exactly one of them must not be taken by the other.
func (e *engine) deepMatch(tf *tfolder, places []*place, how string) ([]*place, error) {
	type want struct {
		p      *place
		cands  []*foreignMsg
		hashes []archive.Hash // exact forms
		masked []archive.Hash // masked forms
		sent   archive.Hash   // what mailkeep sends (--repair-line-endings: CRLF)
	}
	var ws []want
	var left []*place
	toHash := map[uint32]*foreignMsg{}
	for _, p := range places {
		pool := tf.foreign.pool(p)
		w := want{p: p, hashes: []archive.Hash{p.hash}, sent: p.hash}
		sizes := map[int64]bool{p.size: true}
		if len(pool) > 0 && p.size <= 64<<20 {
			raw, err := e.repo.ReadMessage(e.ctx, p.hash)
			if err != nil {
				return nil, archiveErr(err)
			}
			w.masked = append(w.masked, archive.HashBytes(masked(raw)))
			if e.o.RepairLineEndings {
				w.sent = archive.HashBytes(repairedForm(raw))
			}
			for _, v := range servedForms(raw) {
				w.hashes = append(w.hashes, archive.HashBytes(v))
				w.masked = append(w.masked, archive.HashBytes(masked(v)))
				sizes[int64(len(v))] = true
			}
		}
		for _, m := range pool {
			if sizes[m.size] {
				w.cands = append(w.cands, m)
				if !m.hashed {
					toHash[m.uid] = m
				}
			}
		}
		if len(w.cands) == 0 {
			left = append(left, p)
			continue
		}
		ws = append(ws, w)
	}
	if err := e.hashForeign(tf, toHash); err != nil {
		return nil, err
	}
	var second []want
	for _, w := range ws {
		var hit *foreignMsg
		for _, m := range w.cands {
			if !m.claimed && m.hashed && slices.Contains(w.hashes, m.hash) {
				hit = m
				break
			}
		}
		if hit == nil {
			second = append(second, w)
			continue
		}
		if err := e.claim(tf, hit, w.p, how, hit.hash != w.p.hash && hit.hash != w.sent); err != nil {
			return nil, err
		}
	}
	for _, w := range second {
		var hit *foreignMsg
		for _, m := range w.cands {
			if !m.claimed && m.hashed && slices.Contains(w.masked, m.masked) {
				hit = m
				break
			}
		}
		if hit == nil {
			left = append(left, w.p)
			continue
		}
		if err := e.claim(tf, hit, w.p, how, true); err != nil {
			return nil, err
		}
	}
	return left, nil
}

// servedForms are the other byte forms a server may keep a message in:
// bare LF made CRLF, NUL made 0x80 (Dovecot), or both.
func servedForms(raw []byte) [][]byte {
	var out [][]byte
	c, n := crlf(raw)
	if n > 0 {
		out = append(out, c)
	}
	if bytes.IndexByte(raw, 0) >= 0 {
		out = append(out, bytes.ReplaceAll(raw, []byte{0}, []byte{0x80}))
		if n > 0 {
			out = append(out, bytes.ReplaceAll(c, []byte{0}, []byte{0x80}))
		}
	}
	return out
}

// hashForeign fetches the bodies of ms and hashes them, streaming, as
// they are and masked (see masked).
func (e *engine) hashForeign(tf *tfolder, ms map[uint32]*foreignMsg) error {
	if len(ms) == 0 {
		return nil
	}
	c, err := e.ensureSelected(tf)
	if err != nil {
		return err
	}
	if err := hashAll(c.Client, ms); err != nil {
		return fmt.Errorf("fetch bodies in %s: %w", tf.name, err)
	}
	e.info(tf.name, fmt.Sprintf("compared %d target messages by content", len(ms)))
	return nil
}

// claim records that p is on the target as m; altered: m is not the
// source's bytes (the target changed them).
func (e *engine) claim(tf *tfolder, m *foreignMsg, p *place, how string, altered bool) error {
	m.claimed = true
	flags := m.flags
	if how == archive.LedgerAppend {
		flags = p.flags // appended with the source's flags
	}
	wasPending := p.pending
	if err := e.record(tf, p, tf.uidv, m.uid, how, flags); err != nil {
		return err
	}
	switch {
	case how == archive.LedgerAdopt:
		tf.res.Adopted++
	case wasPending && p.uncertain:
		tf.res.Copied++
		tf.res.CopiedBytes += p.size
	}
	p.uncertain = false
	if altered {
		e.noteAltered(tf, p, m)
	}
	return nil
}

// resolvePending looks for what was appended without an APPENDUID, or
// whose APPEND lost its answer, among the target's new messages. Messages
// appended for sure but not found are reported; those whose APPEND may
// not have happened are appended again.
func (e *engine) resolvePending(tf *tfolder) error {
	c, sel, err := e.selectFolder(tf)
	if err != nil {
		return err
	}
	if sel.UIDValidity != tf.uidv {
		e.warn(tf.name, fmt.Sprintf("UIDVALIDITY changed from %d to %d during the run", tf.uidv, sel.UIDValidity))
		tf.uidv = sel.UIDValidity
	}
	uids, err := e.searchUIDs(c, imap.UIDRange{Start: imap.UID(tf.scanned + 1), Stop: 0}, sel.NumMessages)
	if err != nil {
		return fmt.Errorf("search %s: %w", tf.name, err)
	}
	var fresh []uint32
	for _, u := range uids {
		if !tf.onTarget[u] {
			fresh = append(fresh, u)
			tf.onTarget[u] = true
		}
		if u > tf.scanned {
			tf.scanned = u
		}
	}
	if err := e.loadForeign(tf, fresh); err != nil {
		return err
	}
	tf.unknown = append(tf.unknown, fresh...)
	pend := tf.pending
	tf.pending = nil
	left, err := e.adopt(tf, pend, archive.LedgerAppend)
	if err != nil {
		return err
	}
	for _, p := range left {
		if !p.uncertain {
			tf.pending = append(tf.pending, p) // reported by the round
			continue
		}
		// The connection died after the body went out and the message is
		// not there: the server did not keep it. Send it again.
		p.pending, p.uncertain, p.queued = false, false, true
		e.q.push(&job{tf: tf, p: p})
	}
	return e.commit(false)
}
