// Package serve is a read-only IMAP server over a mailkeep archive, so
// that a mail client (Thunderbird, mutt, a phone) browses and searches
// the archived mail, the mail taken off the server included.
//
//	srv := serve.New(&serve.Options{Repo: repo, Username: u, Password: p})
//	srv.Serve(ln)  // per connection: LOGIN, then
//	               //   LIST   -> the archive's folders (ACCOUNT/FOLDER, or one account's at the top)
//	               //   SELECT -> the folder's archived messages, UID = the archive's place id
//	               //   FETCH  -> BODY[] byte for byte from the packs, FLAGS and INTERNALDATE as archived
//	               //   SEARCH -> text criteria from the FTS index, the rest from the index rows
//	               //   APPEND, STORE, EXPUNGE, COPY, MOVE, CREATE, DELETE, RENAME -> NO [CANNOT]
//
// UIDs are the archive's message place ids: they only grow, a place
// keeps its id for ever, and new backups add larger ones, so UIDs and
// UIDVALIDITY (derived from the archive's creation and the folder) stay
// valid across restarts and new backups.
//
// It is go-imap v2's imapserver with a backend of its own. Traps of
// imapserver met on the way (see the README's "Finding and browsing"):
// SELECT always answers [READ-WRITE] (the backend cannot say a mailbox is
// read-only; we rewrite the tagged OK to [READ-ONLY]); it tells TLS by a
// type assertion on its net.Conn, which any wrapper defeats (so TLS is
// implicit on every connection, and LOGIN is allowed on what the listener
// gives); and it calls Poll after every successful command (a folder is
// read again only when the archive's commit number changed).
package serve
