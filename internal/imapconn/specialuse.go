package imapconn

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// SpecialUses are the folder roles mailkeep records, maps between servers
// and creates: RFC 6154 2, and \Important (RFC 8457 3). The one list.
var SpecialUses = []imap.MailboxAttr{
	imap.MailboxAttrAll,
	imap.MailboxAttrArchive,
	imap.MailboxAttrDrafts,
	imap.MailboxAttrFlagged,
	imap.MailboxAttrJunk,
	imap.MailboxAttrSent,
	imap.MailboxAttrTrash,
	imap.MailboxAttrImportant,
}

// SpecialUseOf is the standard spelling of a special-use attribute (the
// comparison ignores case, RFC 3501 9), or "" if a is none.
func SpecialUseOf(a imap.MailboxAttr) imap.MailboxAttr {
	for _, su := range SpecialUses {
		if strings.EqualFold(string(a), string(su)) {
			return su
		}
	}
	return ""
}

// SpecialUse is the special-use attribute among attrs, or "".
func SpecialUse(attrs []imap.MailboxAttr) string {
	for _, a := range attrs {
		if su := SpecialUseOf(a); su != "" {
			return string(su)
		}
	}
	return ""
}
