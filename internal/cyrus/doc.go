// Package cyrus starts a private Cyrus IMAP 3.6 (imapd, pop3d, lmtpd) for
// tests, like internal/dovecot does for Dovecot.
//
// Debian's cyrus-imapd conflicts with dovecot-imapd, so Cyrus is never
// installed: .ci/install-cyrus unpacks the packages into a directory
// ($MAILKEEP_CYRUS_ROOT, default /opt/mailkeep-cyrus) and installs the
// libraries they need. Each instance lives in its own temporary directory
// (configs, sasldb, spool), listens on free 127.0.0.1 ports and runs its
// daemons as the cyrus user.
//
//	srv := cyrus.Shared(t, cyrus.LayoutDebian)  // one per layout and test binary
//	user, pass := srv.NewUser(t)                // sasldb entry + user.NAME
//	srv.Append(t, user, srv.Folder("Archive", "2019"), msgs) // over IMAP, as the user
//	srv.Deliver(t, user, raw)                   // over LMTP, as an MTA
//	sh := srv.ShareFolder(t, "m4", []string{"Shared"}, user, "lrs")
//	srv.Append(t, "m4", sh.AsOwner, msgs)       // the user sees sh.AsGrantee
//	pub := srv.PublicFolder(t, []string{"Public"}, user, "lr")
//	srv.Append(t, srv.Admin, pub.Internal, msgs)
//	c, _ := imapclient.DialInsecure(srv.IMAPAddr, nil)
//
// Two layouts: LayoutDebian ("." and the "INBOX." prefix, other users'
// folders as user.m4.Shared) and LayoutAlt (Cyrus 3's default: "/" and
// altnamespace, "Other Users/m4/Shared", "Shared Folders/Public").
//
// Readiness is an event, not a sleep: the master binds lmtpd's socket
// after the TCP ports (inotify tells when), then the first imapd greets.
//
// Without the unpacked tree, or not as root, Start and Shared skip the
// test with the reason; with MAILKEEP_REQUIRE_CYRUS=1 (CI) they fail it.
//
// What Cyrus does to APPENDed bytes: bare LF, NUL and empty messages are
// refused; raw 8-bit header bytes become 'X' (munge8bit, see Munged,
// Options.Keep8BitHeaders); everything else is served as sent.
package cyrus
