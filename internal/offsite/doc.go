// Package offsite keeps a copy of an archive in S3-compatible object
// storage and rebuilds archives from it.
//
// Packs only grow and are never rewritten, so a push sends each pack's new
// bytes as immutable, content-addressed pieces, then a snapshot of the
// index, then a manifest naming both. A crash at any point leaves the
// newest manifest describing a complete copy:
//
//	push:
//		snapshot := VACUUM INTO a temp file            // consistent with the packs' committed bytes
//		prev := newest manifest/<seq>.json
//		for each pack in snapshot:
//			for each 32 MiB-aligned range past what prev holds:
//				PUT data/<sha256 of the bytes>        // skipped if already there
//		PUT index/<sha256> (zstd, age-encrypted when encryption is on)
//		PUT manifest/<prev.seq+1>.json                // last: the copy is now current
//	pull:   newest manifest -> index (+ every pack unless --index-only) -> marker last
//	verify: every object the manifest names exists, with its size and MD5/SHA-256
//
// The format is written down in archive/FORMAT.md ("Off-site copies").
package offsite
