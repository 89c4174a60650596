package imapsrv

import (
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// session is one client connection's state.
type session struct {
	srv  *Server
	wire *wireConn
	user *user
	sel  *selected

	// idleMu is held while Idle runs: the imapserver can end a session
	// without waiting for its IDLE goroutine.
	idleMu sync.Mutex
	closed bool
}

// selected is the session's view of its selected mailbox: the messages in
// the order the client numbers them, which lags the mailbox until the
// session tells the client about changes (RFC 3501 7.4.1).
type selected struct {
	mb          *mailbox
	readOnly    bool
	epoch       int
	uidValidity uint32
	view        []viewEntry
	uidNext     uint32 // first UID not in view
	syncedMod   uint64 // mailbox modSeq at the last sync
	pendingGone bool   // expunged messages not yet reported
}

type viewEntry struct {
	msg    *message
	modSeq uint64 // what the client was last told
}

// sessionAppendLimit adds the APPENDLIMIT capability to a session.
type sessionAppendLimit struct{ *session }

func (s sessionAppendLimit) AppendLimit() uint32 { return s.srv.opts.AppendLimit }

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionSASL           = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
	_ imapserver.SessionAppendLimit    = sessionAppendLimit{}
	_ imapserver.SessionIMAP4rev2      = sessionAppendLimit{}
	_ imapserver.SessionSASL           = sessionAppendLimit{}
	_ imapserver.SessionUnauthenticate = sessionAppendLimit{}
)

func (s *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	sess := &session{srv: s}
	sess.wire, _ = conn.NetConn().(*wireConn)
	if sess.wire != nil {
		sess.wire.sess = sess
	}
	if s.opts.AppendLimit > 0 {
		return sessionAppendLimit{sess}, nil, nil
	}
	return sess, nil, nil
}

func (s *session) Close() error {
	s.idleMu.Lock()
	s.closed = true
	s.idleMu.Unlock()
	if s.wire != nil {
		s.wire.sessionDone()
	}
	return nil
}

func (s *session) Unauthenticate() error {
	s.sel = nil
	s.user = nil
	return nil
}

func noErr(code imap.ResponseCode, text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

func badErr(text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeBad, Text: text}
}

var (
	errNonExistent = noErr(imap.ResponseCodeNonExistent, "No such mailbox")
	errTryCreate   = noErr(imap.ResponseCodeTryCreate, "Mailbox does not exist")
	errReadOnly    = noErr("READ-ONLY", "Mailbox is read-only")
)

// storeErr turns an error of the store into an IMAP answer.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrExists):
		return noErr(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, ErrNoMailbox):
		return errNonExistent
	case errors.Is(err, ErrBadMailbox):
		return noErr(imap.ResponseCodeCannot, "Invalid mailbox name")
	}
	return noErr("", err.Error())
}

func (s *session) Select(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	s.srv.mu.RLock()
	defer s.srv.mu.RUnlock()
	mb := s.user.mailboxes[canonName(name)]
	if mb == nil {
		return nil, errNonExistent
	}
	if err := s.srv.selectAllowedLocked(s.user.name, name); err != nil {
		return nil, err
	}
	sel := &selected{
		mb:          mb,
		readOnly:    opts.ReadOnly,
		epoch:       mb.epoch,
		uidValidity: mb.uidValidity,
		uidNext:     mb.uidNext,
		syncedMod:   mb.modSeq,
		view:        make([]viewEntry, len(mb.msgs)),
	}
	var firstUnseen uint32
	for i, msg := range mb.msgs {
		sel.view[i] = viewEntry{msg: msg, modSeq: msg.modSeq}
		if firstUnseen == 0 && !hasFlag(msg.flags, string(imap.FlagSeen)) {
			firstUnseen = uint32(i + 1)
		}
	}
	s.sel = sel
	if s.wire != nil {
		s.wire.selModSeq.Store(mb.modSeq)
	}
	flags := mailboxFlags(mb)
	perm := append(append([]imap.Flag(nil), flags...), imap.FlagWildcard)
	if opts.ReadOnly {
		perm = nil
	}
	return &imap.SelectData{
		Flags:             flags,
		PermanentFlags:    perm,
		NumMessages:       uint32(len(sel.view)),
		FirstUnseenSeqNum: firstUnseen,
		UIDNext:           imap.UID(mb.uidNext),
		UIDValidity:       mb.uidValidity,
		HighestModSeq:     mb.modSeq,
	}, nil
}

// mailboxFlags are the system flags and every keyword in use.
func mailboxFlags(mb *mailbox) []imap.Flag {
	out := toIMAPFlags(systemFlags)
	seen := map[string]bool{}
	for _, msg := range mb.msgs {
		for _, f := range msg.flags {
			if strings.HasPrefix(f, `\`) || seen[strings.ToLower(f)] {
				continue
			}
			seen[strings.ToLower(f)] = true
			out = append(out, imap.Flag(f))
		}
	}
	return out
}

func (s *session) Unselect() error {
	s.sel = nil
	return nil
}

func (s *session) Create(name string, opts *imap.CreateOptions) error {
	if len(opts.SpecialUse) > 0 {
		if !s.srv.has(imap.CapCreateSpecialUse) {
			return badErr("CREATE-SPECIAL-USE is not supported")
		}
		for _, a := range opts.SpecialUse {
			if normSpecialUse(a) == "" {
				return noErr("USEATTR", "Unsupported special-use attribute")
			}
		}
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if canonName(name) == "INBOX" {
		return noErr(imap.ResponseCodeAlreadyExists, "INBOX always exists")
	}
	_, err := s.user.createLocked(name, opts.SpecialUse)
	if err == nil {
		s.srv.changedLocked()
	}
	return storeErr(err)
}

func (s *session) Delete(name string) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	mb := s.user.mailboxes[canonName(name)]
	switch {
	case mb == nil:
		return errNonExistent
	case mb.name == "INBOX":
		return noErr(imap.ResponseCodeCannot, "INBOX cannot be deleted")
	}
	s.user.deleteLocked(mb)
	s.srv.changedLocked()
	return nil
}

func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	mb := s.user.mailboxes[canonName(oldName)]
	if mb == nil {
		return errNonExistent
	}
	if err := s.user.renameLocked(mb, newName); err != nil {
		return storeErr(err)
	}
	s.srv.changedLocked()
	return nil
}

func (s *session) Subscribe(name string) error {
	return s.srv.SetSubscribed(s.user.name, name, true)
}

func (s *session) Unsubscribe(name string) error {
	return s.srv.SetSubscribed(s.user.name, name, false)
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	s.srv.mu.RLock()
	defer s.srv.mu.RUnlock()
	return s.srv.namespacesLocked(), nil
}

func (s *session) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	s.srv.mu.RLock()
	defer s.srv.mu.RUnlock()
	mb := s.user.mailboxes[canonName(name)]
	if mb == nil {
		return nil, errNonExistent
	}
	return s.statusLocked(mb, opts), nil
}

func (s *session) statusLocked(mb *mailbox, opts *imap.StatusOptions) *imap.StatusData {
	num := uint32(len(mb.msgs))
	var unseen, deleted, recent uint32
	var size int64
	for _, msg := range mb.msgs {
		if !hasFlag(msg.flags, string(imap.FlagSeen)) {
			unseen++
		}
		if hasFlag(msg.flags, string(imap.FlagDeleted)) {
			deleted++
		}
		size += int64(len(msg.raw))
	}
	// DELETED-STORAGE carries HIGHESTMODSEQ through the wire layer.
	hms := int64(mb.modSeq)
	data := &imap.StatusData{
		Mailbox:        mb.name,
		NumMessages:    &num,
		UIDNext:        imap.UID(mb.uidNext),
		UIDValidity:    mb.uidValidity,
		NumUnseen:      &unseen,
		NumDeleted:     &deleted,
		Size:           &size,
		NumRecent:      &recent,
		DeletedStorage: &hms,
		HighestModSeq:  mb.modSeq,
	}
	if opts.AppendLimit && s.srv.opts.AppendLimit > 0 {
		limit := s.srv.opts.AppendLimit
		data.AppendLimit = &limit
	}
	return data
}

func (s *session) Append(name string, r imap.LiteralReader, opts *imap.AppendOptions) (*imap.AppendData, error) {
	s.srv.mu.RLock()
	exists := s.user.mailboxes[canonName(name)] != nil
	s.srv.mu.RUnlock()
	if !exists {
		return nil, errTryCreate
	}
	raw := make([]byte, r.Size())
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, err
	}
	raw = s.srv.appended(raw)
	date := opts.Time
	if date.IsZero() {
		date = time.Now()
	}

	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	mb := s.user.mailboxes[canonName(name)]
	if mb == nil {
		return nil, errTryCreate
	}
	msg := mb.appendLocked(raw, fromIMAPFlags(opts.Flags), date)
	s.srv.changedLocked()
	if !s.srv.has(imap.CapUIDPlus) {
		return nil, nil
	}
	return &imap.AppendData{UID: imap.UID(msg.uid), UIDValidity: mb.uidValidity}, nil
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if s.closed {
		return nil
	}
	for {
		changed := s.srv.changes()
		if err := s.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-stop:
			return nil
		}
	}
}
