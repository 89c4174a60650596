// Package restore turns archive entries into mail outside the archive:
// APPENDs into an IMAP account (restore, migrate) and files on disk
// (export). It never prints; it reports through a progress.Reporter.
//
// Export, the file side, is a loop over the index with a format writer
// from internal/mailfmt behind it:
//
//	w := mailfmt.NewWriter(format, out)            // maildir, mbox or eml
//	for entry in repo.Messages(account, since, before, gone?) matching --folder {
//		body := repo.OpenMessage(entry.Hash)        // streamed, never held twice
//		w.Add(folder, {body, flags, INTERNALDATE})  // temp name, then rename
//		a failed message is recorded and skipped; a full disk stops the export
//	}
//	w.Close()                                      // mbox files renamed into place
//
// Restore and migrate, the IMAP side (restore.go, migrate.go), never copy
// a message twice. The archive keeps a ledger (archive/ledger.go): which
// source place went to which target folder, UIDVALIDITY and UID.
//
//	login to the target; NAMESPACE, LIST (delimiter, prefix, special use)
//	migrate: backup.IMAP/POP3 runs alongside, checkpointing into the archive
//	every poll, and once more after the backup:
//		for each source folder: map it (INBOX, folder_map, \Sent by role,
//		                        delimiter, "INBOX." prefix), create it if missing
//		for each target folder: SELECT (PERMANENTFLAGS), UID SEARCH, ledger rows
//			pair new source places with the ledger: by place, then by hash
//			mail the ledger does not explain: Message-ID+size+date, else body
//			hash -> adopted, not appended
//			changed source flags -> +FLAGS/-FLAGS of what changed
//			the rest -> queued, per folder
//	workers (connections-1): MULTIAPPEND batches of one folder, each body
//	sent only after the server's "+"; APPENDUID -> ledger row;
//	checkpoint the ledger every 500 messages or 2 s
//	lost answers, no UIDPLUS: look for the new UIDs, match, append the rest again
//	reconcile per folder: in source, on target, copied, adopted, skipped why
package restore
