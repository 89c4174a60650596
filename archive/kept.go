package archive

import (
	"net/mail"
	"strings"
	"time"
)

// Mail that mailkeep itself took off a server (POP3 delete, cleanup) is
// not gone: the archive is now its only copy, so every view (ls, export,
// restore, search, serve) shows it by default. Only mail the user deleted
// on the server (expunged, a folder removed, a UIDVALIDITY change) is
// "deleted", and shown only when asked for.

// OffServer reports whether a gone_reason means mailkeep took the message
// off the server after archiving it.
func OffServer(reason string) bool {
	return reason == GoneCleanup || reason == GonePOP3Deleted
}

// KeptSQL is the SQL condition, on the messages table under alias (""
// for none), of the places every view shows by default: on the server,
// or taken off it by mailkeep.
func KeptSQL(alias string) string {
	if alias != "" {
		alias += "."
	}
	return "(" + alias + "gone_since=0 OR " + alias + "gone_reason IN ('" + GoneCleanup + "','" + GonePOP3Deleted + "'))"
}

// AsOfSQL is the condition of the places that were in the mailbox at a
// moment (two ? parameters, both that moment in Unix seconds): seen by
// then, and not deleted on the server by then. Mail mailkeep took off the
// server stays.
func AsOfSQL(alias string) string {
	a := alias
	if a != "" {
		a += "."
	}
	return "(" + a + "first_seen<=? AND (" + a + "gone_since>? OR " + KeptSQL(alias) + "))"
}

// EffectiveDate is the date a message is shown, filtered and restored
// with: its INTERNALDATE, or where it has none (POP3 has no such thing)
// the Date header, or where that is missing or unreadable the time the
// archive first saw it.
func EffectiveDate(internal time.Time, dateHeader string, firstSeen time.Time) time.Time {
	if !internal.IsZero() {
		return internal
	}
	if t, ok := ParseDateHeader(dateHeader); ok {
		return t
	}
	return firstSeen
}

// ParseDateHeader reads an RFC 5322 Date header, keeping its zone.
func ParseDateHeader(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	t, err := mail.ParseDate(s)
	if err != nil || t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}
