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
package restore
