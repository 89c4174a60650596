// Package imapsrv is an in-process IMAP server that serves messages byte
// for byte as they were stored, for mailkeep's tests and its demo. It is
// go-imap's imapserver with a backend of its own and a thin wire layer
// (wire.go) for what imapserver cannot do: STARTTLS under it, CONDSTORE,
// and refusing a too large APPEND safely.
//
//	srv := imapsrv.New(&imapsrv.Options{DisableMove: true})
//	srv.AddUser("alice", "secret")
//	srv.AddMailbox("alice", "Sent", imap.MailboxAttrSent)
//	uid := srv.AddMessage("alice", "INBOX", raw, []string{`\Seen`}, date)
//	srv.Start()            // 127.0.0.1:0
//	defer srv.Close()
//	... imapclient.DialInsecure(srv.Addr(), nil) ...
//	srv.Messages("alice", "INBOX") // what clients did
//
// Each connection keeps its own numbering of the selected mailbox (its
// view) and learns about other sessions' changes on its next command or
// while idling, as with a real server. All data sits in memory behind one
// lock that is never held while writing to a client.
package imapsrv
