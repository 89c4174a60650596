package serve

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// List answers LIST and LSUB: every served mailbox is subscribed (a
// client that lists subscribed folders sees them all).
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imap.ListOptions) error {
	if len(patterns) == 0 {
		// RFC 3501 6.3.8: LIST "" "" asks for the delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: Delim})
	}
	if err := s.refresh(); err != nil {
		return err
	}
	for _, name := range sortedNames(s.boxes) {
		mb := s.boxes[name]
		match := false
		for _, p := range patterns {
			match = match || imapserver.MatchList(name, Delim, ref, p)
		}
		if !match {
			continue
		}
		var attrs []imap.MailboxAttr
		if mb.folder == nil && mb.name != "INBOX" {
			attrs = append(attrs, imap.MailboxAttrNoSelect)
		}
		children := false
		for other := range s.boxes {
			if strings.HasPrefix(other, name+string(Delim)) {
				children = true
				break
			}
		}
		if children {
			attrs = append(attrs, imap.MailboxAttrHasChildren)
		} else {
			attrs = append(attrs, imap.MailboxAttrHasNoChildren)
		}
		if mb.specialUse != "" {
			attrs = append(attrs, imap.MailboxAttr(mb.specialUse))
		}
		if opts != nil && opts.SelectSpecialUse && mb.specialUse == "" {
			continue
		}
		if opts != nil && (opts.SelectSubscribed || opts.ReturnSubscribed) {
			attrs = append(attrs, imap.MailboxAttrSubscribed)
		}
		if err := w.WriteList(&imap.ListData{Attrs: attrs, Delim: Delim, Mailbox: name}); err != nil {
			return err
		}
	}
	return nil
}
