package imapsrv

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Namespaces and rights, for tests of what is the user's own (RFC 2342
// NAMESPACE, RFC 4314 MYRIGHTS). Other users' and public folders are plain
// mailboxes of the user whose names start with the prefixes given to
// SetNamespaces ("Other Users/bob/Shared"), as a server such as Cyrus
// lists them. Rights are only reported, and enforced for SELECT and
// EXAMINE (a folder without "r" cannot be selected): whether a client
// deletes where it may not is for the test to check.

// aclState is the server's namespaces and rights; guarded by Server.mu.
type aclState struct {
	ns     *imap.NamespaceData
	rights map[string]map[string]string // user -> mailbox -> rights

	munge8bit bool // see SetMunge8Bit
}

// SetNamespaces makes NAMESPACE answer ns instead of the single personal
// namespace with the prefix "".
func (s *Server) SetNamespaces(ns *imap.NamespaceData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acl.ns = ns
}

// SetRights sets the user's rights in a mailbox as MYRIGHTS reports them
// ("lrswipkxtecda" for full rights, "l" for lookup only). The first call
// turns the ACL capability on; a mailbox without rights set has them all.
func (s *Server) SetRights(userName, mailbox, rights string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acl.rights == nil {
		s.acl.rights = map[string]map[string]string{}
	}
	if s.acl.rights[userName] == nil {
		s.acl.rights[userName] = map[string]string{}
	}
	s.acl.rights[userName][canonName(mailbox)] = rights
}

// aclOn reports whether ACL is offered.
func (s *Server) aclOn() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.acl.rights != nil
}

// namespacesLocked returns what NAMESPACE answers. s.mu must be held.
func (s *Server) namespacesLocked() *imap.NamespaceData {
	if s.acl.ns != nil {
		return s.acl.ns
	}
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: Delim}}}
}

// rightsLocked returns the user's rights in a mailbox. s.mu must be held.
func (s *Server) rightsLocked(userName, mailbox string) string {
	if r, ok := s.acl.rights[userName][canonName(mailbox)]; ok {
		return r
	}
	return "lrswipkxtecda"
}

// selectAllowed refuses SELECT and EXAMINE without the "r" right (RFC 4314
// 4). s.mu must be held.
func (s *Server) selectAllowedLocked(userName, mailbox string) error {
	if !strings.ContainsRune(s.rightsLocked(userName, mailbox), 'r') {
		return noErr("NOPERM", "Permission denied")
	}
	return nil
}

// myRights answers "tag MYRIGHTS mailbox" (RFC 4314 3.5) in the wire
// layer: go-imap's imapserver has no ACL. The answer waits until the
// imapserver has read everything before it (see Read), so responses keep
// the order of the commands.
func (c *wireConn) myRights(tag string, seg []byte) {
	line := string(bytes.TrimRight(seg, "\r\n"))
	_, rest, _ := strings.Cut(line, " ") // tag
	_, name, _ := strings.Cut(rest, " ") // MYRIGHTS
	if strings.HasPrefix(name, `"`) {
		n, err := strconv.Unquote(name)
		if err != nil {
			c.answer = []byte(tag + " BAD Invalid mailbox name\r\n")
			return
		}
		name = n
	}
	if name == "" {
		c.answer = []byte(tag + " BAD MYRIGHTS takes one mailbox\r\n")
		return
	}
	var user string
	if sess := c.sess; sess != nil && sess.user != nil {
		user = sess.user.name
	}
	if user == "" {
		c.answer = []byte(tag + " BAD Not authenticated\r\n")
		return
	}
	c.srv.mu.RLock()
	exists := c.srv.users[user] != nil && c.srv.users[user].mailboxes[canonName(name)] != nil
	rights := c.srv.rightsLocked(user, name)
	c.srv.mu.RUnlock()
	if !exists {
		c.answer = []byte(tag + " NO [NONEXISTENT] No such mailbox\r\n")
		return
	}
	c.answer = []byte("* MYRIGHTS " + strconv.Quote(name) + " " + rights + "\r\n" + tag + " OK MYRIGHTS completed\r\n")
}

// flushAnswer writes a response the wire layer made itself.
func (c *wireConn) flushAnswer() error {
	a := c.answer
	c.answer = nil
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn().Write(a); err != nil {
		return err
	}
	c.traced(a)
	return nil
}
