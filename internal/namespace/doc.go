// Package namespace knows an IMAP account's namespaces (RFC 2342: the
// user's own folders, other users' folders shared with the user, public
// folders), the rights the user has in a folder (RFC 4314 MYRIGHTS), and
// the one canonical form of folder names that mailkeep shows and matches
// patterns against.
//
//	set, err := namespace.Discover(client, listedNames, delim) // NAMESPACE, or a guess
//	set.Kind("user.bob.Shared")       // namespace.Other
//	set.Canonical("INBOX.Sent", '.')  // "Sent"
//	r, ok, err := namespace.MyRights(client, "INBOX.Sent")
//	r.CanRead(), r.CanDelete()
//
// Only folders in the personal namespace are backed up, migrated and
// cleaned up unless the account's config asks for more, and cleanup never
// deletes anywhere else.
package namespace
