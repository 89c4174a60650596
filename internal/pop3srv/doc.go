// Package pop3srv is a small POP3 server (RFC 1939, CAPA and PIPELINING
// from RFC 2449, STLS, APOP, SASL PLAIN/XOAUTH2/OAUTHBEARER) that runs
// in-process on 127.0.0.1, for tests and for "mailkeep demo". It can be
// told to misbehave (Hooks) so that clients can be tested against the
// failures real servers produce.
//
//	srv, _ := Start(&Options{STLS: true})
//	srv.AddUser("alice", "secret")
//	srv.AddMessage("alice", "uid-1", raw)     // stored byte for byte
//	... point a client at srv.Addr() ...
//	srv.Maildrop("alice")                     // what is left after QUIT
//	srv.Close()
//
// # What a client receives
//
// RETR sends the stored bytes unchanged except for dot-stuffing: a "."
// is added in front of every line that starts with "." (lines end at LF,
// so bare-LF messages are stuffed too). The body is then ended with
// ".\r\n" if the message is empty or ends with LF, and with "\r\n.\r\n"
// otherwise. A byte-exact client therefore gets back exactly the stored
// bytes when the message is empty or ends with LF, and the stored bytes
// plus "\r\n" otherwise: see ClientBytes. LIST and STAT report the
// stored length (unless Hooks.Size says otherwise).
//
// # Sessions
//
// Message numbers are fixed at login. DELE only marks; the marked
// messages are removed when the client's QUIT is answered +OK. A session
// that ends any other way removes nothing. While a session is logged in,
// its maildrop is locked: a second login for the same user gets
// "-ERR [IN-USE] ...".
package pop3srv
