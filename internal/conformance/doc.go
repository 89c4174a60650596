// Package conformance runs mailkeep's operations against every IMAP and
// POP3 server it is tested with, each scenario written once (STYLE.md 7).
//
// A Server makes fresh accounts; an Account says where it is, how its
// personal namespace looks, and seeds mail over plain IMAP APPEND (or
// into a POP3 maildrop) with go-imap, never with mailkeep's own code. The
// ground truth of every comparison is what the server itself serves
// afterwards (a fresh UID FETCH BODY.PEEK[] or RETR), and what a target
// does to a message is learnt by APPENDing it to a scratch account of the
// same server (Probe), never written down by hand.
//
//	for _, srv := range conformance.Servers(t) {   // imapsrv, dovecot, cyrus (both layouts)
//		a := srv.NewAccount(t)
//		a.Append(t, "Archive/2019", msgs)          // canonical names: "/" and no prefix
//		... backup.IMAP(ctx, repo, &backup.IMAPAccount{Dial: a.Dial}, nil) ...
//		conformance.Snapshot(t, a)                   // what the server serves now
//	}
//
// The scenarios are this package's tests: backup, change, re-run,
// restore (backup_test.go); migrate between every pair of servers
// (migrate_test.go); cleanup; POP3. Dovecot and Cyrus skip when absent
// and fail when MAILKEEP_REQUIRE_DOVECOT / MAILKEEP_REQUIRE_CYRUS is 1.
package conformance
