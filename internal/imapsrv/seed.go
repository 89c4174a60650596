package imapsrv

import (
	"fmt"
	"sort"
	"time"

	"github.com/emersion/go-imap/v2"
)

// The seeding and inspection API: what tests and the demo use to set up a
// server and to look at what clients did. Every method is safe to call
// while clients are connected; sessions see the changes on their next
// command or while idling.

// AddUser creates a user with an empty INBOX, or changes the password of an
// existing one.
func (s *Server) AddUser(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		u.password = password
		return
	}
	u := &user{
		name:       name,
		password:   password,
		mailboxes:  make(map[string]*mailbox),
		subscribed: map[string]bool{"INBOX": true},
	}
	u.createLocked("INBOX", nil)
	s.users[name] = u
	s.changedLocked()
}

// SetToken sets the OAuth 2.0 bearer token that XOAUTH2 and OAUTHBEARER
// accept for the user; "" turns token login off.
func (s *Server) SetToken(userName, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(userName)
	if err != nil {
		return err
	}
	u.token = token
	return nil
}

// AddMailbox creates a subscribed mailbox with the given special-use
// attributes (\Sent, \Drafts, \Trash, \Junk, \Archive, \All, ...).
func (s *Server) AddMailbox(userName, name string, specialUse ...imap.MailboxAttr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(userName)
	if err != nil {
		return err
	}
	mb, err := u.createLocked(name, specialUse)
	if err != nil {
		return err
	}
	u.subscribed[mb.name] = true
	s.changedLocked()
	return nil
}

// DeleteMailbox removes a mailbox and its messages.
func (s *Server) DeleteMailbox(userName, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, mb, err := s.mailboxLocked(userName, name)
	if err != nil {
		return err
	}
	u.deleteLocked(mb)
	s.changedLocked()
	return nil
}

// RenameMailbox renames a mailbox and the mailboxes below it, keeping their
// UIDVALIDITY and UIDs, as Dovecot does.
func (s *Server) RenameMailbox(userName, oldName, newName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, mb, err := s.mailboxLocked(userName, oldName)
	if err != nil {
		return err
	}
	if err := u.renameLocked(mb, newName); err != nil {
		return err
	}
	s.changedLocked()
	return nil
}

// SetSubscribed subscribes or unsubscribes a mailbox name (which need not
// exist, RFC 3501 6.3.6).
func (s *Server) SetSubscribed(userName, name string, subscribed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(userName)
	if err != nil {
		return err
	}
	if subscribed {
		u.subscribed[canonName(name)] = true
	} else {
		delete(u.subscribed, canonName(name))
	}
	return nil
}

// AddMessage stores a copy of raw in a mailbox, creating the mailbox if it
// does not exist, and returns its UID. A zero date means now. It panics if
// the user does not exist or the name is invalid: it is meant for seeding.
func (s *Server) AddMessage(userName, mailboxName string, raw []byte, flags []string, date time.Time) (uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(userName)
	if err != nil {
		panic(err)
	}
	mb := u.mailboxes[canonName(mailboxName)]
	if mb == nil {
		if mb, err = u.createLocked(mailboxName, nil); err != nil {
			panic(err)
		}
		u.subscribed[mb.name] = true
	}
	if date.IsZero() {
		date = time.Now()
	}
	msg := mb.appendLocked(append([]byte{}, raw...), flags, date)
	s.changedLocked()
	return msg.uid
}

// SetFlags replaces the flags of a message.
func (s *Server) SetFlags(userName, mailboxName string, uid uint32, flags []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mb, err := s.mailboxLocked(userName, mailboxName)
	if err != nil {
		return err
	}
	msg := mb.byUID(uid)
	if msg == nil {
		return fmt.Errorf("imapsrv: %s uid %d: %w", mailboxName, uid, ErrNoMessage)
	}
	fl, changed := setFlags(msg.flags, flags)
	if changed {
		mb.modSeq++
		msg.flags = fl
		msg.modSeq = mb.modSeq
		s.changedLocked()
	}
	return nil
}

// Expunge removes one message, as another client's EXPUNGE would.
func (s *Server) Expunge(userName, mailboxName string, uid uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mb, err := s.mailboxLocked(userName, mailboxName)
	if err != nil {
		return err
	}
	gone := mb.expungeLocked(func(m *message) bool { return m.uid == uid })
	if len(gone) == 0 {
		return fmt.Errorf("imapsrv: %s uid %d: %w", mailboxName, uid, ErrNoMessage)
	}
	s.changedLocked()
	return nil
}

// Messages returns the messages of a mailbox in UID order, or nil if it
// does not exist.
func (s *Server) Messages(userName, mailboxName string) []Message {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, mb, err := s.mailboxLocked(userName, mailboxName)
	if err != nil {
		return nil
	}
	out := make([]Message, len(mb.msgs))
	for i, msg := range mb.msgs {
		out[i] = Message{
			UID:    msg.uid,
			Raw:    msg.raw,
			Flags:  append([]string{}, msg.flags...),
			Date:   msg.date,
			ModSeq: msg.modSeq,
		}
	}
	return out
}

// Mailboxes lists the mailboxes of a user, sorted by name.
func (s *Server) Mailboxes(userName string) []Mailbox {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[userName]
	if u == nil {
		return nil
	}
	out := make([]Mailbox, 0, len(u.mailboxes))
	for _, mb := range u.mailboxes {
		out = append(out, mb.info(u))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// UIDValidity returns the UIDVALIDITY of a mailbox, 0 if it does not exist.
func (s *Server) UIDValidity(userName, mailboxName string) uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, mb, err := s.mailboxLocked(userName, mailboxName)
	if err != nil {
		return 0
	}
	return mb.uidValidity
}

// SetUIDValidity sets the UIDVALIDITY of a mailbox without touching UIDs.
func (s *Server) SetUIDValidity(userName, mailboxName string, v uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mb, err := s.mailboxLocked(userName, mailboxName)
	if err != nil {
		return err
	}
	mb.uidValidity = v
	mb.modSeq++
	s.changedLocked()
	return nil
}

// ResetUIDValidity simulates a server that lost its UID state: the mailbox
// gets a new UIDVALIDITY and its messages are renumbered from UID 1. It
// returns the new UIDVALIDITY, 0 if the mailbox does not exist.
func (s *Server) ResetUIDValidity(userName, mailboxName string) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mb, err := s.mailboxLocked(userName, mailboxName)
	if err != nil {
		return 0
	}
	mb.uidValidity = newUIDValidity()
	mb.epoch++
	mb.modSeq++
	fresh := make([]*message, len(mb.msgs))
	for i, msg := range mb.msgs {
		msg.expunged = true
		fresh[i] = &message{
			uid:    uint32(i + 1),
			raw:    msg.raw,
			date:   msg.date,
			flags:  append([]string(nil), msg.flags...),
			modSeq: mb.modSeq,
		}
	}
	mb.msgs = fresh
	mb.uidNext = uint32(len(fresh) + 1)
	s.changedLocked()
	return mb.uidValidity
}
