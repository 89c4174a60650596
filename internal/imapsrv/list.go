package imapsrv

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// List answers LIST and LSUB. Parents that do not exist are listed
// \Noselect, as Dovecot does; special-use attributes are shown whether
// asked for or not, unless SPECIAL-USE is switched off.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imap.ListOptions) error {
	if opts.ReturnStatus != nil && !s.srv.has(imap.CapListStatus) {
		return badErr("LIST-STATUS is not supported")
	}
	if (opts.ReturnSpecialUse || opts.SelectSpecialUse) && !s.srv.has(imap.CapSpecialUse) {
		return badErr("SPECIAL-USE is not supported")
	}
	if len(patterns) == 0 {
		// RFC 3501 6.3.8: LIST "" "" asks for the delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: Delim})
	}

	type entry struct {
		data imap.ListData
		mb   *mailbox
	}
	var entries []entry
	s.srv.mu.RLock()
	names := map[string]bool{} // name -> exists
	for name := range s.user.mailboxes {
		names[name] = true
		for i := 0; i < len(name); i++ {
			if name[i] != Delim {
				continue
			}
			if _, ok := names[name[:i]]; !ok {
				names[name[:i]] = false
			}
		}
	}
	if opts.SelectSubscribed { // RFC 5258 3.1: subscribed, existing or not
		for name := range s.user.subscribed {
			if _, ok := names[name]; !ok {
				names[name] = false
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Slice(sorted, func(i, j int) bool {
		if (sorted[i] == "INBOX") != (sorted[j] == "INBOX") {
			return sorted[i] == "INBOX"
		}
		return sorted[i] < sorted[j]
	})
	for _, name := range sorted {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(name, Delim, ref, p) {
				match = true
				break
			}
		}
		if !match {
			continue
		}
		mb := s.user.mailboxes[name]
		subscribed := s.user.subscribed[name]
		if opts.SelectSubscribed && !subscribed {
			continue
		}
		if opts.SelectSpecialUse && (mb == nil || len(mb.specialUse) == 0) {
			continue
		}
		hasChildren := false
		for other := range names {
			if strings.HasPrefix(other, name+string(Delim)) {
				hasChildren = true
				break
			}
		}
		var attrs []imap.MailboxAttr
		switch {
		case mb == nil && !hasChildren:
			attrs = append(attrs, imap.MailboxAttrNonExistent)
		case mb == nil:
			attrs = append(attrs, imap.MailboxAttrNoSelect)
		}
		if hasChildren {
			attrs = append(attrs, imap.MailboxAttrHasChildren)
		} else {
			attrs = append(attrs, imap.MailboxAttrHasNoChildren)
		}
		if subscribed && (opts.ReturnSubscribed || opts.SelectSubscribed) {
			attrs = append(attrs, imap.MailboxAttrSubscribed)
		}
		// Like Dovecot, roles are shown whether asked for or not.
		if mb != nil && s.srv.has(imap.CapSpecialUse) {
			attrs = append(attrs, mb.specialUse...)
		}
		e := entry{data: imap.ListData{Attrs: attrs, Delim: Delim, Mailbox: name}, mb: mb}
		if mb != nil && opts.ReturnStatus != nil {
			e.data.Status = s.statusLocked(mb, opts.ReturnStatus)
		}
		entries = append(entries, e)
	}
	s.srv.mu.RUnlock()

	for _, e := range entries {
		if err := w.WriteList(&e.data); err != nil {
			return err
		}
	}
	return nil
}
