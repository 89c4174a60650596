package imapsrv

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, sf *imap.StoreFlags, _ *imap.StoreOptions) error {
	sel := s.sel
	if sel.readOnly {
		return errReadOnly
	}
	_, isUID := numSet.(imap.UIDSet)
	flags := fromIMAPFlags(sf.Flags)

	type result struct {
		t      target
		flags  []string
		modSeq uint64
	}
	var results []result
	s.srv.mu.Lock()
	changed := false
	for _, t := range sel.targetsLocked(numSet) {
		if t.msg.expunged {
			continue
		}
		var (
			fl []string
			ch bool
		)
		switch sf.Op {
		case imap.StoreFlagsAdd:
			fl, ch = addFlags(t.msg.flags, flags)
		case imap.StoreFlagsDel:
			fl, ch = delFlags(t.msg.flags, flags)
		default:
			fl, ch = setFlags(t.msg.flags, flags)
		}
		if ch {
			sel.mb.modSeq++
			t.msg.flags = fl
			t.msg.modSeq = sel.mb.modSeq
			changed = true
		}
		sel.view[t.idx].modSeq = t.msg.modSeq
		results = append(results, result{t: t, flags: append([]string(nil), t.msg.flags...), modSeq: t.msg.modSeq})
	}
	if changed {
		s.srv.changedLocked()
	}
	s.srv.mu.Unlock()

	if sf.Silent {
		return nil
	}
	condStore := s.wire != nil && s.wire.condStore.Load() && s.srv.has(imap.CapCondStore)
	for _, r := range results {
		rw := w.CreateMessage(r.t.seq)
		if isUID {
			rw.WriteUID(imap.UID(r.t.msg.uid))
		}
		if condStore {
			writeModSeq(rw, r.modSeq) // RFC 7162 3.2
		}
		rw.WriteFlags(toIMAPFlags(r.flags))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// copyLocked copies the targets into dest and returns COPYUID data (nil
// without UIDPLUS or when nothing was copied).
func (s *session) copyLocked(targets []target, dest *mailbox) *imap.CopyData {
	var src, dst imap.UIDSet
	for _, t := range targets {
		if t.msg.expunged {
			continue
		}
		c := dest.appendLocked(t.msg.raw, t.msg.flags, t.msg.date)
		src.AddNum(imap.UID(t.msg.uid))
		dst.AddNum(imap.UID(c.uid))
	}
	if len(src) == 0 || !s.srv.has(imap.CapUIDPlus) {
		return nil
	}
	return &imap.CopyData{UIDValidity: dest.uidValidity, SourceUIDs: src, DestUIDs: dst}
}

func (s *session) Copy(numSet imap.NumSet, destName string) (*imap.CopyData, error) {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	dest := s.user.mailboxes[canonName(destName)]
	if dest == nil {
		return nil, errTryCreate
	}
	data := s.copyLocked(s.sel.targetsLocked(numSet), dest)
	s.srv.changedLocked()
	return data, nil
}

// Move is RFC 6851 MOVE: COPYUID first, then an EXPUNGE per message.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, destName string) error {
	if !s.srv.has(imap.CapMove) {
		return badErr("Unknown command")
	}
	sel := s.sel
	if sel.readOnly {
		return errReadOnly
	}
	s.srv.mu.Lock()
	dest := s.user.mailboxes[canonName(destName)]
	if dest == nil {
		s.srv.mu.Unlock()
		return errTryCreate
	}
	targets := sel.targetsLocked(numSet)
	data := s.copyLocked(targets, dest)
	moved := map[*message]bool{}
	for _, t := range targets {
		moved[t.msg] = true
	}
	sel.mb.expungeLocked(func(m *message) bool { return moved[m] })
	ups := sel.dropExpungedLocked(moved)
	s.srv.changedLocked()
	s.srv.mu.Unlock()

	if data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	for _, u := range ups {
		if err := w.WriteExpunge(u.expunge); err != nil {
			return err
		}
	}
	return nil
}

// Expunge removes \Deleted messages (only those in uids, for UID EXPUNGE)
// and reports every expunged message the client still has.
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if uids != nil && !s.srv.has(imap.CapUIDPlus) {
		return badErr("Unknown command")
	}
	sel := s.sel
	if sel.readOnly {
		return nil // CLOSE on EXAMINE expunges nothing (RFC 3501 6.4.2)
	}
	s.srv.mu.Lock()
	gone := sel.mb.expungeLocked(func(m *message) bool {
		return hasFlag(m.flags, string(imap.FlagDeleted)) && (uids == nil || uids.Contains(imap.UID(m.uid)))
	})
	if len(gone) > 0 {
		s.srv.changedLocked()
	}
	ups := sel.dropExpungedLocked(nil)
	s.srv.mu.Unlock()
	for _, u := range ups {
		if err := w.WriteExpunge(u.expunge); err != nil {
			return err
		}
	}
	return nil
}
