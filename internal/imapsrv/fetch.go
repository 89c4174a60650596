package imapsrv

import (
	"bufio"
	"bytes"
	"io"
	"sort"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// target is a message a command acts on, with its sequence number in the
// session's view.
type target struct {
	seq uint32
	idx int
	msg *message
}

// targetsLocked resolves a sequence or UID set against the view. "*" is the
// last message; "n:*" with n past the end still means the last message
// (RFC 3501 6.4.8), as real servers answer "UID FETCH 100:*".
func (sel *selected) targetsLocked(numSet imap.NumSet) []target {
	n := len(sel.view)
	if n == 0 {
		return nil
	}
	var out []target
	add := func(lo, hi int) { // view indexes, inclusive
		for i := lo; i <= hi; i++ {
			out = append(out, target{seq: uint32(i + 1), idx: i, msg: sel.view[i].msg})
		}
	}
	switch set := numSet.(type) {
	case imap.SeqSet:
		for _, r := range set {
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = uint32(n)
			}
			if hi == 0 {
				hi = uint32(n)
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo > uint32(n) {
				continue
			}
			add(int(lo)-1, int(min(hi, uint32(n)))-1)
		}
	case imap.UIDSet:
		maxUID := sel.view[n-1].msg.uid
		for _, r := range set {
			lo, hi := uint32(r.Start), uint32(r.Stop)
			if lo == 0 {
				lo = maxUID
			}
			if hi == 0 {
				hi = maxUID
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			i := sort.Search(n, func(i int) bool { return sel.view[i].msg.uid >= lo })
			j := sort.Search(n, func(i int) bool { return sel.view[i].msg.uid > hi })
			if i < j {
				add(i, j-1)
			}
		}
	}
	// Overlapping ranges: each message once, in order.
	sort.Slice(out, func(a, b int) bool { return out[a].idx < out[b].idx })
	uniq := out[:0]
	for i, t := range out {
		if i == 0 || t.idx != out[i-1].idx {
			uniq = append(uniq, t)
		}
	}
	return uniq
}

// Fetch streams each message as it is written: the lock is held only to
// read (and set) flags, never while writing to the client.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, opts *imap.FetchOptions) error {
	sel := s.sel
	wantModSeq, changedSince := fetchMarkers(opts)
	markSeen := false
	if !sel.readOnly {
		for _, bs := range opts.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range opts.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
	}

	s.srv.mu.RLock()
	targets := sel.targetsLocked(numSet)
	s.srv.mu.RUnlock()

	for _, t := range targets {
		var (
			flags     []string
			modSeq    uint64
			seenAdded bool
		)
		if markSeen {
			s.srv.mu.Lock()
			if !t.msg.expunged && !hasFlag(t.msg.flags, string(imap.FlagSeen)) {
				t.msg.flags = append(t.msg.flags, string(imap.FlagSeen))
				sel.mb.modSeq++
				t.msg.modSeq = sel.mb.modSeq
				seenAdded = true
				s.srv.changedLocked()
			}
			flags, modSeq = append([]string(nil), t.msg.flags...), t.msg.modSeq
			s.srv.mu.Unlock()
		} else {
			s.srv.mu.RLock()
			flags, modSeq = append([]string(nil), t.msg.flags...), t.msg.modSeq
			s.srv.mu.RUnlock()
		}
		if changedSince > 0 && modSeq <= changedSince {
			continue
		}
		if seenAdded || wantModSeq {
			sel.view[t.idx].modSeq = modSeq
		}
		if err := s.fetchOne(w, t, flags, modSeq, opts, wantModSeq, seenAdded); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) fetchOne(w *imapserver.FetchWriter, t target, flags []string, modSeq uint64, opts *imap.FetchOptions, wantModSeq, seenAdded bool) error {
	msg := t.msg
	rw := w.CreateMessage(t.seq)
	if opts.UID {
		rw.WriteUID(imap.UID(msg.uid))
	}
	if wantModSeq {
		writeModSeq(rw, modSeq)
	}
	// RFC 3501 6.4.5: a \Seen set by BODY[] is reported with FLAGS.
	if opts.Flags || seenAdded {
		rw.WriteFlags(toIMAPFlags(flags))
	}
	if opts.InternalDate {
		rw.WriteInternalDate(msg.date)
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(int64(len(msg.raw)))
	}
	if opts.Envelope {
		rw.WriteEnvelope(envelope(msg.raw))
	}
	if opts.BodyStructure != nil {
		rw.WriteBodyStructure(bodyStructure(msg.raw))
	}
	for _, bs := range opts.BodySection {
		b := bodySection(msg.raw, bs)
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(b))), b); err != nil {
			rw.Close() // releases the connection's writer
			return err
		}
	}
	for _, bs := range opts.BinarySection {
		b := binarySection(msg.raw, bs)
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(b))), b); err != nil {
			rw.Close()
			return err
		}
	}
	for _, bss := range opts.BinarySectionSize {
		n := uint32(len(msg.raw))
		if len(bss.Part) > 0 {
			n = imapserver.ExtractBinarySectionSize(bytes.NewReader(msg.raw), bss)
		}
		rw.WriteBinarySectionSize(bss, n)
	}
	return rw.Close()
}

// writeModSeq writes MODSEQ in the form wireConn turns into "MODSEQ (n)".
func writeModSeq(rw *imapserver.FetchResponseWriter, modSeq uint64) {
	rw.WriteBinarySectionSize(&imap.FetchItemBinarySectionSize{Part: []int{0}}, uint32(modSeq))
}

func writeLiteral(wc io.WriteCloser, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

func envelope(raw []byte) *imap.Envelope {
	h, _ := splitHeader(raw)
	hdr, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(h)))
	if err != nil {
		return &imap.Envelope{}
	}
	return imapserver.ExtractEnvelope(hdr)
}

// bodyStructure is go-imap's, made safe to write: an empty multipart
// would make the imapserver panic.
func bodyStructure(raw []byte) imap.BodyStructure {
	bs := imapserver.ExtractBodyStructure(bytes.NewReader(raw))
	return fixStructure(bs)
}

func fixStructure(bs imap.BodyStructure) imap.BodyStructure {
	switch v := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(v.Children) == 0 {
			return &imap.BodyStructureSinglePart{
				Type: "text", Subtype: "plain",
				Text:     &imap.BodyStructureText{},
				Extended: &imap.BodyStructureSinglePartExt{},
			}
		}
		for i, c := range v.Children {
			v.Children[i] = fixStructure(c)
		}
		if v.Extended == nil {
			v.Extended = &imap.BodyStructureMultiPartExt{}
		}
	case *imap.BodyStructureSinglePart:
		if v.Extended == nil {
			v.Extended = &imap.BodyStructureSinglePartExt{}
		}
		if v.Type == "" {
			v.Type, v.Subtype = "text", "plain"
		}
	}
	return bs
}

// Poll tells the client what changed since it last heard (RFC 3501 7.4.1):
// EXPUNGE (only where allowed), EXISTS and FETCH FLAGS.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	ups := s.collectUpdates(allowExpunge)
	for _, u := range ups {
		var err error
		switch {
		case u.expunge != 0:
			err = w.WriteExpunge(u.expunge)
		case u.exists != 0 || u.isExists:
			err = w.WriteNumMessages(u.exists)
		default:
			err = w.WriteMessageFlags(u.seq, imap.UID(u.uid), toIMAPFlags(u.flags))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type update struct {
	expunge  uint32
	exists   uint32
	isExists bool
	seq, uid uint32
	flags    []string
}

func (s *session) collectUpdates(allowExpunge bool) []update {
	sel := s.sel
	if sel == nil {
		return nil
	}
	s.srv.mu.RLock()
	defer s.srv.mu.RUnlock()
	mb := sel.mb
	if mb.modSeq == sel.syncedMod && sel.epoch == mb.epoch && !(allowExpunge && sel.pendingGone) {
		return nil
	}
	if sel.epoch != mb.epoch && !allowExpunge {
		return nil // renumbered: wait until the old UIDs can be expunged
	}
	var ups []update
	if allowExpunge {
		ups = append(ups, sel.dropExpungedLocked(nil)...)
	}
	// New messages.
	if sel.epoch != mb.epoch {
		sel.epoch = mb.epoch
		sel.uidNext = 0
		sel.uidValidity = mb.uidValidity
	}
	i := sort.Search(len(mb.msgs), func(i int) bool { return mb.msgs[i].uid >= sel.uidNext })
	if i < len(mb.msgs) {
		for _, msg := range mb.msgs[i:] {
			sel.view = append(sel.view, viewEntry{msg: msg})
		}
		ups = append(ups, update{exists: uint32(len(sel.view)), isExists: true})
	}
	sel.uidNext = mb.uidNext
	// Flag changes.
	sel.pendingGone = false
	for i := range sel.view {
		e := &sel.view[i]
		if e.msg.expunged {
			sel.pendingGone = true
			continue
		}
		if e.msg.modSeq != e.modSeq {
			if e.modSeq != 0 {
				ups = append(ups, update{seq: uint32(i + 1), uid: e.msg.uid, flags: append([]string(nil), e.msg.flags...)})
			}
			e.modSeq = e.msg.modSeq
		}
	}
	sel.syncedMod = mb.modSeq
	return ups
}

// dropExpungedLocked removes expunged messages from the view (those in
// only, if not nil) and returns their EXPUNGE updates, numbered as the
// client sees them one after the other.
func (sel *selected) dropExpungedLocked(only map[*message]bool) []update {
	var ups []update
	kept := sel.view[:0]
	for _, e := range sel.view {
		if e.msg.expunged && (only == nil || only[e.msg]) {
			ups = append(ups, update{expunge: uint32(len(kept) + 1)})
			continue
		}
		kept = append(kept, e)
	}
	clear(sel.view[len(kept):])
	sel.view = kept
	return ups
}
