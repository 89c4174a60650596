package imapsrv

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Errors of the seeding and inspection API; match with errors.Is.
var (
	ErrNoUser     = errors.New("no such user")
	ErrNoMailbox  = errors.New("no such mailbox")
	ErrNoMessage  = errors.New("no such message")
	ErrExists     = errors.New("mailbox already exists")
	ErrBadMailbox = errors.New("invalid mailbox name")
)

// Delim is the hierarchy delimiter of every mailbox name.
const Delim = '/'

// message is one stored message. uid, raw and date never change once the
// message is stored (copies share raw); the other fields are guarded by
// Server.mu.
type message struct {
	uid  uint32
	raw  []byte
	date time.Time

	flags    []string
	modSeq   uint64
	expunged bool
}

type mailbox struct {
	name        string
	specialUse  []imap.MailboxAttr
	uidValidity uint32
	uidNext     uint32
	modSeq      uint64 // HIGHESTMODSEQ; bumped by every change
	epoch       int    // bumped when UIDs are renumbered
	msgs        []*message
	deleted     bool
}

type user struct {
	name       string
	password   string
	token      string
	mailboxes  map[string]*mailbox
	subscribed map[string]bool
}

// Message is a stored message as the inspection API returns it. Raw is the
// stored slice itself: do not modify it.
type Message struct {
	UID    uint32
	Raw    []byte
	Flags  []string
	Date   time.Time
	ModSeq uint64
}

// Mailbox describes a stored mailbox.
type Mailbox struct {
	Name          string
	SpecialUse    []imap.MailboxAttr
	Subscribed    bool
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      int
}

var (
	uidValidityOnce sync.Once
	uidValidityNext atomic.Uint32
)

// newUIDValidity hands out values that differ across all servers of the
// process, like a real server that uses the creation time.
func newUIDValidity() uint32 {
	uidValidityOnce.Do(func() { uidValidityNext.Store(uint32(time.Now().Unix())) })
	return uidValidityNext.Add(1)
}

// canonName returns the stored form of a mailbox name: INBOX in any case is
// INBOX (RFC 3501 5.1), a trailing delimiter is dropped.
func canonName(name string) string {
	name = strings.TrimSuffix(name, string(Delim))
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX" + name[5:]
	}
	return name
}

func validName(name string) bool {
	if name == "" || strings.HasPrefix(name, string(Delim)) || strings.Contains(name, "//") {
		return false
	}
	return !strings.ContainsAny(name, "\r\n\x00*%")
}

// changedLocked wakes IDLE sessions. s.mu must be held for writing.
func (s *Server) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) changes() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

func (s *Server) userLocked(name string) (*user, error) {
	u := s.users[name]
	if u == nil {
		return nil, fmt.Errorf("imapsrv: user %q: %w", name, ErrNoUser)
	}
	return u, nil
}

func (s *Server) mailboxLocked(userName, name string) (*user, *mailbox, error) {
	u, err := s.userLocked(userName)
	if err != nil {
		return nil, nil, err
	}
	mb := u.mailboxes[canonName(name)]
	if mb == nil {
		return u, nil, fmt.Errorf("imapsrv: mailbox %q of %q: %w", name, userName, ErrNoMailbox)
	}
	return u, mb, nil
}

func (u *user) createLocked(name string, specialUse []imap.MailboxAttr) (*mailbox, error) {
	name = canonName(name)
	if !validName(name) {
		return nil, fmt.Errorf("imapsrv: mailbox %q: %w", name, ErrBadMailbox)
	}
	if u.mailboxes[name] != nil {
		return nil, fmt.Errorf("imapsrv: mailbox %q: %w", name, ErrExists)
	}
	var uses []imap.MailboxAttr
	for _, a := range specialUse {
		su := normSpecialUse(a)
		if su == "" {
			return nil, fmt.Errorf("imapsrv: mailbox %q: %q is not a special-use attribute", name, a)
		}
		uses = append(uses, su)
	}
	mb := &mailbox{
		name:        name,
		specialUse:  uses,
		uidValidity: newUIDValidity(),
		uidNext:     1,
		modSeq:      1,
	}
	u.mailboxes[name] = mb
	return mb, nil
}

// appendLocked stores msg under the next UID of mb.
func (mb *mailbox) appendLocked(raw []byte, flags []string, date time.Time) *message {
	fl, _ := addFlags(nil, flags)
	mb.modSeq++
	msg := &message{uid: mb.uidNext, raw: raw, date: date, flags: fl, modSeq: mb.modSeq}
	mb.uidNext++
	mb.msgs = append(mb.msgs, msg)
	return msg
}

// expungeLocked removes the messages for which drop is true.
func (mb *mailbox) expungeLocked(drop func(*message) bool) []*message {
	var gone []*message
	kept := mb.msgs[:0]
	for _, msg := range mb.msgs {
		if drop(msg) {
			msg.expunged = true
			gone = append(gone, msg)
			continue
		}
		kept = append(kept, msg)
	}
	clear(mb.msgs[len(kept):])
	mb.msgs = kept
	if len(gone) > 0 {
		mb.modSeq++
	}
	return gone
}

func (mb *mailbox) byUID(uid uint32) *message {
	i := sort.Search(len(mb.msgs), func(i int) bool { return mb.msgs[i].uid >= uid })
	if i < len(mb.msgs) && mb.msgs[i].uid == uid {
		return mb.msgs[i]
	}
	return nil
}

func (mb *mailbox) info(u *user) Mailbox {
	return Mailbox{
		Name:          mb.name,
		SpecialUse:    append([]imap.MailboxAttr(nil), mb.specialUse...),
		Subscribed:    u.subscribed[mb.name],
		UIDValidity:   mb.uidValidity,
		UIDNext:       mb.uidNext,
		HighestModSeq: mb.modSeq,
		Messages:      len(mb.msgs),
	}
}

func (u *user) deleteLocked(mb *mailbox) {
	mb.expungeLocked(func(*message) bool { return true })
	mb.deleted = true
	delete(u.mailboxes, mb.name)
}

func (u *user) renameLocked(mb *mailbox, newName string) error {
	newName = canonName(newName)
	if !validName(newName) {
		return fmt.Errorf("imapsrv: mailbox %q: %w", newName, ErrBadMailbox)
	}
	if u.mailboxes[newName] != nil {
		return fmt.Errorf("imapsrv: mailbox %q: %w", newName, ErrExists)
	}
	oldName := mb.name
	if oldName == "INBOX" {
		// RFC 3501 6.3.5: renaming INBOX moves its messages to a new
		// mailbox and leaves INBOX empty; its children stay where they are.
		moved := *mb
		moved.name = newName
		u.mailboxes[newName] = &moved
		for _, msg := range mb.msgs {
			msg.expunged = true
		}
		mb.msgs = nil
		mb.uidValidity = newUIDValidity()
		mb.uidNext = 1
		mb.modSeq++
		mb.epoch++
		// The moved mailbox holds fresh message structs so that sessions
		// with INBOX selected see them expunged.
		fresh := make([]*message, len(moved.msgs))
		for i, msg := range moved.msgs {
			c := *msg
			c.expunged = false
			c.flags = append([]string(nil), msg.flags...)
			fresh[i] = &c
		}
		moved.msgs = fresh
		return nil
	}
	prefix := oldName + string(Delim)
	if strings.HasPrefix(newName, prefix) {
		return fmt.Errorf("imapsrv: rename %q to its own child %q: %w", oldName, newName, ErrBadMailbox)
	}
	var names []string
	for name := range u.mailboxes {
		if name == oldName || strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		to := newName + strings.TrimPrefix(name, oldName)
		if u.mailboxes[to] != nil && name != oldName {
			return fmt.Errorf("imapsrv: mailbox %q: %w", to, ErrExists)
		}
	}
	for _, name := range names {
		to := newName + strings.TrimPrefix(name, oldName)
		m := u.mailboxes[name]
		delete(u.mailboxes, name)
		m.name = to
		u.mailboxes[to] = m
		if u.subscribed[name] {
			delete(u.subscribed, name)
			u.subscribed[to] = true
		}
	}
	return nil
}
