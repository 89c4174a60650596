package serve

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailkeep/mailkeep/archive"
)

// session is one client connection.
type session struct {
	srv    *Server
	remote string
	authed bool
	boxes  map[string]*mailbox
	sel    *selected
}

// selected is the session's view of its selected mailbox: its messages in
// UID order, as the client numbers them.
type selected struct {
	mb   *mailbox
	uidv uint32
	msgs []*msg
	seq  int64 // the archive's commit number when msgs was read
}

type msg struct {
	uid   uint32 // the archive's place id
	hash  archive.Hash
	size  int64
	flags []string
	date  time.Time
}

var (
	_ imapserver.Session          = (*session)(nil)
	_ imapserver.SessionNamespace = (*session)(nil)
	_ imapserver.SessionMove      = (*session)(nil)
)

func no(code imap.ResponseCode, text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

// errReadOnly answers every command that would change something.
func errReadOnly(what string) error {
	return no(imap.ResponseCodeCannot, what+" refused: this is mailkeep's read-only archive")
}

var errNoMailbox = no(imap.ResponseCodeNonExistent, "No such mailbox in the archive")

func (s *session) ctx() context.Context { return context.Background() }

func (s *session) Close() error { return nil }

func (s *session) Login(username, password string) error {
	if !s.srv.checkLogin(username, password) {
		s.srv.opts.Log.Warn("serve: login failed", "remote", s.remote)
		return imapserver.ErrAuthFailed
	}
	s.authed = true
	return nil
}

func (s *session) refresh() error {
	boxes, err := s.srv.mailboxes(s.ctx())
	if err != nil {
		return no(imap.ResponseCodeServerBug, "archive: "+err.Error())
	}
	s.boxes = boxes
	return nil
}

func (s *session) lookup(name string) (*mailbox, error) {
	if err := s.refresh(); err != nil {
		return nil, err
	}
	if mb := s.boxes[name]; mb != nil {
		return mb, nil
	}
	if mb := s.boxes["INBOX"]; mb != nil && equalFoldASCII(name, "INBOX") {
		return mb, nil
	}
	return nil, errNoMailbox
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// load reads a mailbox's archived messages, in UID order.
func (s *session) load(mb *mailbox) ([]*msg, error) {
	if mb.folder == nil {
		return nil, nil
	}
	var out []*msg
	for e, err := range s.srv.opts.Repo.Messages(s.ctx(), archive.Query{FolderID: mb.folder.ID, NoHeaders: true}) {
		if err != nil {
			return nil, no(imap.ResponseCodeServerBug, "archive: "+err.Error())
		}
		if e.ID <= 0 || e.ID > 1<<32-1 {
			continue
		}
		out = append(out, &msg{uid: uint32(e.ID), hash: e.Hash, size: e.Size, flags: e.Flags, date: e.InternalDate})
	}
	sortByUID(out)
	return out, nil
}

func sortByUID(m []*msg) {
	// Messages come by UIDVALIDITY and server UID; the served UID is the
	// place id, which grows with every place the archive records.
	sort.Slice(m, func(i, j int) bool { return m[i].uid < m[j].uid })
}

func (s *session) Select(name string, _ *imap.SelectOptions) (*imap.SelectData, error) {
	mb, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if mb.folder == nil && mb.name != "INBOX" {
		return nil, no(imap.ResponseCodeCannot, "Not a folder: it only holds others")
	}
	seq, _ := s.srv.opts.Repo.CommitSeq(s.ctx())
	msgs, err := s.load(mb)
	if err != nil {
		return nil, err
	}
	s.sel = &selected{mb: mb, uidv: s.srv.uidValidity(mb), msgs: msgs, seq: seq}
	next := uint32(1)
	if len(msgs) > 0 {
		next = msgs[len(msgs)-1].uid + 1
	}
	return &imap.SelectData{
		Flags:          []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft},
		PermanentFlags: []imap.Flag{}, // nothing can be stored
		NumMessages:    uint32(len(msgs)),
		UIDNext:        imap.UID(next),
		UIDValidity:    s.sel.uidv,
	}, nil
}

func (s *session) Unselect() error {
	s.sel = nil
	return nil
}

func (s *session) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	mb, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	msgs, err := s.load(mb)
	if err != nil {
		return nil, err
	}
	d := &imap.StatusData{Mailbox: mb.name}
	n := uint32(len(msgs))
	if opts.NumMessages {
		d.NumMessages = &n
	}
	if opts.UIDNext {
		d.UIDNext = 1
		if len(msgs) > 0 {
			d.UIDNext = imap.UID(msgs[len(msgs)-1].uid + 1)
		}
	}
	if opts.UIDValidity {
		d.UIDValidity = s.srv.uidValidity(mb)
	}
	if opts.NumUnseen {
		var u uint32
		for _, m := range msgs {
			if !hasFlag(m.flags, `\Seen`) {
				u++
			}
		}
		d.NumUnseen = &u
	}
	if opts.Size {
		var sz int64
		for _, m := range msgs {
			sz += m.size
		}
		d.Size = &sz
	}
	return d, nil
}

// Poll tells the client about mail a backup added meanwhile, and about
// mail that left the selected folder (deleted on the server) where
// EXPUNGE responses are allowed.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	// imapserver polls after every command: the folder is read again
	// only when a writer has committed since.
	seq, err := s.srv.opts.Repo.CommitSeq(s.ctx())
	if err != nil || seq == s.sel.seq {
		return nil
	}
	now, err := s.load(s.sel.mb)
	if err != nil {
		return nil // keep the view; the next command tries again
	}
	cur := map[uint32]*msg{}
	for _, m := range now {
		cur[m.uid] = m
	}
	old := s.sel.msgs
	var gone bool
	for _, m := range old {
		if cur[m.uid] == nil {
			gone = true
		}
	}
	if gone && !allowExpunge {
		return nil // told later, where EXPUNGE is allowed (seq stays)
	}
	kept := old[:0:0]
	for i := len(old) - 1; i >= 0; i-- {
		if cur[old[i].uid] == nil {
			if err := w.WriteExpunge(uint32(i + 1)); err != nil {
				return err
			}
		}
	}
	last := uint32(0)
	for _, m := range old {
		if cur[m.uid] != nil {
			kept = append(kept, m)
			last = m.uid
		}
	}
	for i, m := range kept {
		if n := cur[m.uid]; archive.JoinFlags(n.flags) != archive.JoinFlags(m.flags) {
			m.flags = n.flags
			if err := w.WriteMessageFlags(uint32(i+1), imap.UID(m.uid), imapFlags(m.flags)); err != nil {
				return err
			}
		}
	}
	added := false
	for _, m := range now {
		if m.uid > last {
			kept = append(kept, m)
			added = true
		}
	}
	s.sel.msgs = kept
	s.sel.seq = seq
	if added || gone {
		return w.WriteNumMessages(uint32(len(kept)))
	}
	return nil
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-t.C:
			if err := s.Poll(w, true); err != nil {
				return err
			}
		}
	}
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: Delim}}}, nil
}

// Everything that would change the archive or the client's view of it
// beyond reading is refused.

func (s *session) Create(string, *imap.CreateOptions) error { return errReadOnly("CREATE") }
func (s *session) Delete(string) error                      { return errReadOnly("DELETE") }
func (s *session) Rename(string, string, *imap.RenameOptions) error {
	return errReadOnly("RENAME")
}
func (s *session) Subscribe(string) error   { return errReadOnly("SUBSCRIBE") }
func (s *session) Unsubscribe(string) error { return errReadOnly("UNSUBSCRIBE") }
func (s *session) Append(string, imap.LiteralReader, *imap.AppendOptions) (*imap.AppendData, error) {
	return nil, errReadOnly("APPEND")
}
func (s *session) Expunge(*imapserver.ExpungeWriter, *imap.UIDSet) error {
	return errReadOnly("EXPUNGE")
}
func (s *session) Store(*imapserver.FetchWriter, imap.NumSet, *imap.StoreFlags, *imap.StoreOptions) error {
	return errReadOnly("STORE")
}
func (s *session) Copy(imap.NumSet, string) (*imap.CopyData, error) {
	return nil, errReadOnly("COPY")
}
func (s *session) Move(*imapserver.MoveWriter, imap.NumSet, string) error {
	return errReadOnly("MOVE")
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if equalFoldASCII(x, f) {
			return true
		}
	}
	return false
}

func imapFlags(flags []string) []imap.Flag {
	out := make([]imap.Flag, 0, len(flags))
	for _, f := range flags {
		if equalFoldASCII(f, `\Recent`) {
			continue
		}
		out = append(out, imap.Flag(f))
	}
	return out
}

func (s *session) String() string { return fmt.Sprintf("session %s", s.remote) }
