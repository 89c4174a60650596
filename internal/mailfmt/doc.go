// Package mailfmt reads and writes mail in the file formats other tools
// use: Maildir (Maildir++ trees as Dovecot lays them out, mbsync and
// OfflineIMAP names), mbox (mboxrd written; mboxrd and mboxo read), .eml
// files, and imap-backup's .mbox + .imap pairs (read only). It knows
// nothing about the archive: restore/export and backup/import connect it.
//
// Writing (export): one Writer per output directory, messages streamed
// through it, nothing under its final name until complete:
//
//	w, _ := mailfmt.NewWriter(mailfmt.Maildir, out)
//	w.Names().Plan(every folder)    // one safe, unique, reversible path each (names.go)
//	for each message {
//		w.Add(mailfmt.Folder{Name: "Archive/2019", Delim: '/'},
//			&mailfmt.Message{Body: r, Size: n, Flags: flags, Date: internaldate})
//	}
//	w.Close()
//
// Reading (import): Discover finds the mailboxes of a path, each one's
// Reader yields its messages one at a time, each Body valid until the
// next call (an open file, or a window onto an mbox: big messages are
// never held in memory):
//
//	boxes, problems, _ := mailfmt.Discover(path, "")
//	for _, b := range boxes {
//		r, _ := b.Open()
//		for m, err := r.Next(); err != io.EOF; m, err = r.Next() {
//			a *Problem concerns one message or file: note it, go on
//			store m.Body under folder b.Name, identity m.Key
//		}
//		r.Close()
//	}
//
// Nothing is written outside the output directory: folder names are
// encoded level by level (names.go, Namer), no symbolic link inside it is
// written through (safefs.go), files are 0600 and directories 0700.
// Reading never follows a symbolic link inside the source (Discover).
// Line ends may be converted on the way out, only where import can undo
// it (lineends.go).
//
// Byte-exactness: Maildir and .eml files hold the exact bytes. An mbox
// message reads back exactly (see MboxWriter for the newline rule) when
// read as mboxrd; Python's mailbox module, which does not unquote,
// sees ">From " where the message had "From ". Flags live in Maildir
// names (keywords via dovecot-keywords, 26 per folder at most); mbox
// and .eml files carry none (import reads mutt's Status: and X-Status:
// fields from mbox messages, without changing the bytes).
package mailfmt
