// Package archive is mailkeep's on-disk repository: compressed, deduplicated,
// indexed, crash-safe storage of messages exactly as servers sent them.
//
// It knows nothing about IMAP or POP3. The format is specified in FORMAT.md,
// and this package is the only one that knows it: callers ask typed
// questions (Messages, Folders, Ledger, Health, LockHolder, ...), never SQL.
//
// A writer's main loop, as backup uses it:
//
//	repo, _ := archive.Open(ctx, dir, &archive.Options{Create: true}) // takes the lock
//	acct, _ := repo.Account("work", "imap")
//	f, _ := repo.Folder(acct, "INBOX")
//	for each message from the server {
//		blob, _ := repo.PutMessage(ctx, raw)  // hash, dedup, compress, append to a pack
//		repo.AddMessage(&archive.Message{Folder: f.ID, UID: uid, Hash: blob.Hash, ...})
//		every few hundred messages: f.LastUID = uid; repo.UpdateFolder(f); repo.Commit(ctx)
//	}
//	repo.Commit(ctx) // fsync packs, then commit the index
//	repo.Close()
//
// Commit syncs every pack byte the pending index rows point at before the
// index transaction commits, so a crash at any point leaves an archive whose
// index only names data that is on disk. Messages appended after the last
// commit are indexed again the next time a writer opens the repository;
// bytes the index cannot account for otherwise are never deleted: the
// writer refuses until Repair (mailkeep repair) has rebuilt the index from
// the packs (recover.go, repair.go, scan.go).
//
// Open as a writer upgrades an index of format version 1 to version 2
// first, in one transaction (upgrade.go); a reader of a version 1 archive
// reads it as it is, through views (upgrade_shim.go).
package archive
