// Package imapconn opens IMAP connections the way every part of mailkeep
// needs them: the configured security (implicit TLS, STARTTLS or, only when
// asked for, plain), a deadline on every read and write so a stalled server
// is an error and not a hang, cancellation through a context, and login by
// LOGIN, AUTHENTICATE PLAIN, XOAUTH2 or OAUTHBEARER.
//
//	c, err := imapconn.Dial(ctx, &imapconn.Options{Addr: "imap.example.com:993", ...})
//	defer c.Close()
//	... c.Client is a logged-in *imapclient.Client ...
//
// go-imap v2 has no context and no response timeout of its own
// (LIBRARIES.md), so both are added here around the net.Conn.
package imapconn
