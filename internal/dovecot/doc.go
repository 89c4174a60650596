// Package dovecot starts a private Dovecot (IMAP and POP3) for tests.
//
// It is test support, but a normal package so that the tests of every
// package can import it. Nothing here touches /etc/dovecot or a system
// Dovecot: each instance lives in its own temporary directory, listens on
// 127.0.0.1 only, on free ports picked at run time.
//
//	srv := dovecot.Shared(t)               // one Dovecot per test binary, started lazily
//	user, pass := srv.NewUser(t)           // a fresh account nobody else uses
//	srv.Seed(t, user, "Archive/2019", msgs) // Maildir files written directly, then indexed
//	c, _ := imapclient.DialTLS(srv.IMAPSAddr, &imapclient.Options{
//		TLSConfig: &tls.Config{RootCAs: srv.CertPool()}})
//	c.Login(user, pass).Wait()
//
// Start gives a private instance with non-default Options (namespace
// layout, UIDL format, ...), stopped by tb.Cleanup.
//
// When Dovecot is not installed, or the tests do not run as root (Dovecot's
// master must switch to its service users), Start and Shared skip the test
// with the reason; with MAILKEEP_REQUIRE_DOVECOT=1 (CI) they fail it
// instead, so that integration tests never silently stop running.
//
// What Dovecot does to seeded bytes: Maildir files are served with every
// bare LF turned into CRLF, and IMAP also turns NUL into 0x80 (see
// ServedIMAP, ServedPOP3); that is what a client receives from BODY[] and
// RETR, and what byte-exact comparisons must expect.
package dovecot
