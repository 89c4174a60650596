package serve

import (
	"bytes"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

// targets resolves a sequence or UID set against the selected view.
func (sel *selected) targets(set imap.NumSet) []int {
	var out []int
	n := uint32(len(sel.msgs))
	switch set := set.(type) {
	case imap.SeqSet:
		for i := range sel.msgs {
			if set.Contains(uint32(i+1)) || seqStar(set, uint32(i+1), n) {
				out = append(out, i)
			}
		}
	case imap.UIDSet:
		last := uint32(0)
		if n > 0 {
			last = sel.msgs[n-1].uid
		}
		for i, m := range sel.msgs {
			if set.Contains(imap.UID(m.uid)) || uidStar(set, m.uid, last) {
				out = append(out, i)
			}
		}
	}
	return out
}

// seqStar handles '*' (Stop 0 or Start 0): the largest number in use
// (RFC 3501 6.4.8), so "5:*" with 3 messages means 3:5.
func seqStar(set imap.SeqSet, seq, max uint32) bool {
	for _, r := range set {
		a, b := r.Start, r.Stop
		if a == 0 {
			a = max
		}
		if b == 0 {
			b = max
		}
		if a > b {
			a, b = b, a
		}
		if seq >= a && seq <= b {
			return true
		}
	}
	return false
}

func uidStar(set imap.UIDSet, uid, max uint32) bool {
	for _, r := range set {
		a, b := uint32(r.Start), uint32(r.Stop)
		if a == 0 {
			a = max
		}
		if b == 0 {
			b = max
		}
		if a > b {
			a, b = b, a
		}
		if uid >= a && uid <= b {
			return true
		}
	}
	return false
}

// Fetch streams each message from the archive as it is written; the
// bytes are the archived bytes, and nothing sets \Seen (read-only).
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, opts *imap.FetchOptions) error {
	sel := s.sel
	needBody := len(opts.BodySection) > 0 || len(opts.BinarySection) > 0 || len(opts.BinarySectionSize) > 0 ||
		opts.Envelope || opts.BodyStructure != nil
	for _, i := range sel.targets(numSet) {
		m := sel.msgs[i]
		var raw []byte
		if needBody {
			var err error
			if raw, err = s.srv.opts.Repo.ReadMessage(s.ctx(), m.hash); err != nil {
				s.srv.opts.Log.Error("serve: read message", "mailbox", sel.mb.name, "uid", m.uid, "err", err)
				return no(imap.ResponseCodeServerBug, "cannot read the archived message (see 'mailkeep verify')")
			}
		}
		rw := w.CreateMessage(uint32(i + 1))
		if opts.UID {
			rw.WriteUID(imap.UID(m.uid))
		}
		if opts.Flags {
			rw.WriteFlags(imapFlags(m.flags))
		}
		if opts.InternalDate {
			rw.WriteInternalDate(m.date)
		}
		if opts.RFC822Size {
			rw.WriteRFC822Size(m.size)
		}
		if opts.Envelope {
			rw.WriteEnvelope(imapsrv.Envelope(raw))
		}
		if opts.BodyStructure != nil {
			rw.WriteBodyStructure(imapsrv.BodyStructure(raw))
		}
		for _, bs := range opts.BodySection {
			b := imapsrv.BodySection(raw, bs)
			if err := writeLiteral(rw.WriteBodySection(bs, int64(len(b))), b); err != nil {
				rw.Close()
				return err
			}
		}
		for _, bs := range opts.BinarySection {
			b := imapsrv.BinarySection(raw, bs)
			if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(b))), b); err != nil {
				rw.Close()
				return err
			}
		}
		for _, bss := range opts.BinarySectionSize {
			n := uint32(len(raw))
			if len(bss.Part) > 0 {
				n = imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), bss)
			}
			rw.WriteBinarySectionSize(bss, n)
		}
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}
