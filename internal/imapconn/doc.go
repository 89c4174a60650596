// Package imapconn is mailkeep's one IMAP layer: every connection to an
// IMAP server is dialled, secured, logged in and guarded here, and no
// package outside internal/ dials a server.
//
//   - Dial: TCP, implicit TLS or STARTTLS (done here, byte by byte, for
//     both clients), LOGIN / AUTHENTICATE PLAIN / XOAUTH2 / OAUTHBEARER,
//     a go-imap client on top.
//   - the guard under each client (guard.go) follows the IMAP stream:
//     timeout bounds each whole response, lines and literals are bounded,
//     a message over MaxMessageSize is refused before it is read.
//   - Session: one logical connection with reconnect and back-off.
//   - AppendClient: APPEND and MULTIAPPEND with synchronizing literals
//     only (append.go), for restore and migrate.
//
// The loop of a caller:
//
//	s := &imapconn.Session{Dial: dial, Retries: 5}
//	defer s.Close()
//	for each folder {
//		err := s.Do(ctx, "back up "+folder, func(c *imapconn.Conn) error {
//			... c.Select, c.Fetch: c.Client is a logged-in *imapclient.Client ...
//		})
//	}
//
// go-imap v2 has no context and no response timeout of its own
// (LIBRARIES.md), so both are added here around the net.Conn; it reports
// a broken stream only as text, so Conn.Err recovers the guard's error.
package imapconn
