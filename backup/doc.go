// Package backup turns mail servers into archive entries: IMAP accounts
// folder by folder, POP3 maildrops by UIDL. It never prints; it reports
// through a progress.Reporter.
//
// The main loop for one IMAP account:
//
//	conn := dial()                      // reconnects on transient errors
//	for each folder in LIST (with STATUS) matching the filter {
//		unchanged since last run?  -> done (one LIST, no SELECT)
//		EXAMINE; UIDVALIDITY changed? -> re-read from UID 1 (dedup stores nothing twice)
//		UID FETCH last+1:* BODY.PEEK[] FLAGS INTERNALDATE -> hash, compress, append, record
//		                                 checkpoint: commit every few hundred messages
//		flags: CHANGEDSINCE modseq (CONDSTORE) or one FLAGS sweep
//		UIDs no longer on the server -> marked gone, never deleted from the archive
//	}
//	folders the (complete) LIST no longer shows -> marked gone
package backup
