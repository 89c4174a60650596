package backup

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// uidState is what a folder's run knows of the UIDs a server sends, so
// that a server that gets them wrong cannot move the checkpoint past mail
// it has not given (RFC 3501 2.3.1.1: UIDs ascend, stay below UIDNEXT and
// keep their meaning while UIDVALIDITY does). Each anomaly is a warning
// naming the folder.
type uidState struct {
	// untrusted: no usable UIDVALIDITY; the folder is read by content.
	untrusted bool

	// The FETCH under way: what was asked for, and what came.
	set      imap.UIDSet
	uidNext  uint32
	seen     map[uint32]bool
	last     uint32
	disorder atomic.Bool // UIDs came out of order: no checkpoint until the FETCH is whole

	warned map[string]bool

	// A message over max_message_size that the server sent before its
	// UID: found by its sequence number on the next connection.
	tooBigSeq uint32
	tooBigErr error
}

// errSkipped: a message was refused and the connection had to go; the
// folder is run again on a new one, without that message. Not a retry of
// the same thing, so it takes nothing from the reconnect budget.
var errSkipped = errors.New("message skipped; reconnecting")

// anomaly warns once per kind and folder.
func (b *imapBackup) anomaly(fx *folderRun, kind string, uid uint32, text string) {
	fx.mu.Lock()
	if fx.u.warned == nil {
		fx.u.warned = map[string]bool{}
	}
	seen := fx.u.warned[kind]
	fx.u.warned[kind] = true
	fx.mu.Unlock()
	if seen {
		return
	}
	progress.Send(b.rep, progress.Event{Kind: progress.Warning, Account: b.a.Name, Folder: fx.mb.name, UID: uid, Text: text})
}

// checkSelected compares what SELECT says with the archive's record of
// the folder and returns the checkpoint to go on from. A changed
// UIDVALIDITY, or a UIDNEXT that went back under the same one (a server
// whose folder was reset), means the old UIDs name other messages now:
// the folder is read again (content dedup stores nothing twice). No
// UIDVALIDITY at all (or 0) means UIDs cannot be trusted: the folder is
// read by content.
func (b *imapBackup) checkSelected(fx *folderRun, sel *imap.SelectData) (uint32, error) {
	f := fx.f
	uv, next := sel.UIDValidity, uint32(sel.UIDNext)
	fx.u.untrusted = uv == 0
	if fx.u.untrusted {
		b.anomaly(fx, "uidvalidity", 0, "the server gives no UIDVALIDITY (or 0): its UIDs cannot be trusted; the whole folder is read by content, and flag changes and deletions there are not followed")
		fx.stored = 0
		return 0, nil
	}
	reset := ""
	switch {
	case f.UIDValidity != 0 && f.UIDValidity != uv:
		reset = fmt.Sprintf("UIDVALIDITY changed from %d to %d; re-reading the folder", f.UIDValidity, uv)
	case f.UIDValidity == uv && next != 0 && (f.UIDNext > next || f.LastUID >= next):
		reset = fmt.Sprintf("UIDNEXT went back from %d to %d under the same UIDVALIDITY %d: the server reset the folder; re-reading it", max(f.UIDNext, f.LastUID+1), next, uv)
	}
	if reset != "" {
		progress.Send(b.rep, progress.Event{Kind: progress.Warning, Account: b.a.Name, Folder: fx.mb.name, Text: reset})
		keep := uv
		if f.UIDValidity == uv {
			keep = 0 // the same UIDVALIDITY, other messages: all of the old ones are gone
		}
		if err := b.repo.MarkFolderGone(b.ctx, f, archive.GoneUIDValidity, keep, time.Now()); err != nil {
			return 0, err
		}
		f.LastUID, f.HighestModSeq, f.UIDNext, fx.stored = 0, 0, 0, 0
	}
	f.UIDValidity = uv
	if fx.stored < f.LastUID {
		fx.stored = f.LastUID
	}
	return f.LastUID, nil
}

// readByContent backs up a folder whose UIDs cannot be trusted: every
// message is fetched and kept by its hash (content dedup stores nothing
// twice); the checkpoint, flags and deletions are left alone.
func (b *imapBackup) readByContent(fx *folderRun, sel *imap.SelectData) error {
	fx.stored, fx.floor = 0, 0
	if err := b.fetchNew(fx, 0, sel.NumMessages); err != nil {
		return err
	}
	if err := b.repo.UpdateFolder(b.ctx, fx.f); err != nil {
		return err
	}
	return b.repo.Commit(b.ctx)
}

// startFetch is called before each FETCH of bodies.
func (fx *folderRun) startFetch(set imap.UIDSet, uidNext uint32) {
	fx.mu.Lock()
	fx.u.set, fx.u.uidNext, fx.u.seen, fx.u.last = set, uidNext, map[uint32]bool{}, 0
	fx.mu.Unlock()
	fx.u.disorder.Store(false)
}

// stray hears of a message body no FETCH asked for (go-imap drops it):
// a UID not asked for, one that came already, or none.
func (b *imapBackup) stray(fx *folderRun, seq, uid uint32) {
	fx.mu.Lock()
	asked := inUIDSet(fx.u.set, uid)
	fx.mu.Unlock()
	switch {
	case uid == 0:
		b.anomaly(fx, "no-uid", 0, fmt.Sprintf("the server sent message %d of a FETCH without its UID (or with the body first); not archived", seq))
	case asked:
		b.anomaly(fx, "duplicate", uid, fmt.Sprintf("the server sent UID %d twice in one FETCH; the second copy ignored", uid))
	default:
		b.anomaly(fx, "range", uid, fmt.Sprintf("the server sent UID %d, which was not asked for; ignored", uid))
	}
}

// accept checks one FETCH response's UID; false means it is not recorded.
func (b *imapBackup) accept(fx *folderRun, uid, seq uint32) bool {
	u := &fx.u
	switch {
	case uid == 0:
		b.anomaly(fx, "no-uid", 0, fmt.Sprintf("the server sent message %d of a FETCH without its UID; not archived", seq))
		return false
	case uid <= fx.floor:
		return false // "n:*" gives the last message even when n is beyond it (RFC 3501 6.4.8)
	case u.untrusted:
		return true
	case u.uidNext != 0 && uid >= u.uidNext:
		b.anomaly(fx, "uidnext", uid, fmt.Sprintf("the server sent UID %d, at or above its UIDNEXT %d; not archived under that UID, and the checkpoint stays where it was", uid, u.uidNext))
		return false
	case !inUIDSet(u.set, uid):
		b.anomaly(fx, "range", uid, fmt.Sprintf("the server sent UID %d, which was not asked for; ignored", uid))
		return false
	case u.seen[uid]:
		b.anomaly(fx, "duplicate", uid, fmt.Sprintf("the server sent UID %d twice in one FETCH; the second copy ignored", uid))
		return false
	}
	if uid < u.last {
		b.anomaly(fx, "order", uid, fmt.Sprintf("the server sent UIDs out of order (%d after %d); the checkpoint waits for the end of the FETCH", uid, u.last))
		u.disorder.Store(true)
	}
	u.seen[uid] = true
	u.last = max(u.last, uid)
	return true
}

func inUIDSet(set imap.UIDSet, uid uint32) bool {
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		if hi == 0 {
			hi = ^uint32(0) // "*"
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if uid >= lo && uid <= hi {
			return true
		}
	}
	return false
}

// newSet is from:* without the UIDs that already failed in this run.
func (fx *folderRun) newSet(from uint32) imap.UIDSet {
	fx.mu.Lock()
	var skip []uint32
	for u := range fx.failed {
		if u >= from {
			skip = append(skip, u)
		}
	}
	fx.mu.Unlock()
	slices.Sort(skip)
	var set imap.UIDSet
	for _, u := range skip {
		if u > from {
			set = append(set, imap.UIDRange{Start: imap.UID(from), Stop: imap.UID(u - 1)})
		}
		from = u + 1
	}
	return append(set, imap.UIDRange{Start: imap.UID(from), Stop: 0})
}

// tooBig records a message over max_message_size as that message's
// error; the folder then goes on over a new connection without it.
func (b *imapBackup) tooBig(fx *folderRun, le *imapconn.LimitError) error {
	if le.UID == 0 {
		fx.u.tooBigSeq, fx.u.tooBigErr = le.Seq, le
		return fmt.Errorf("%w: %w", errSkipped, le)
	}
	return b.skipMessage(fx, le.UID, le)
}

func (b *imapBackup) skipMessage(fx *folderRun, uid uint32, err error) error {
	fx.mu.Lock()
	_, again := fx.failed[uid]
	fx.mu.Unlock()
	if again {
		return err // it came again although it was left out: stop here
	}
	fx.fail(uid, err)
	progress.Send(b.rep, progress.Event{Kind: progress.Failed, Account: b.a.Name, Folder: fx.mb.name, UID: uid, Err: err})
	return fmt.Errorf("%w: %w", errSkipped, err) // with the cause, which the connection reports too
}

// resolveTooBig finds the UID of a message refused by its sequence number
// (on the new connection, right after SELECT).
func (b *imapBackup) resolveTooBig(fx *folderRun) error {
	seq, cause := fx.u.tooBigSeq, fx.u.tooBigErr
	if seq == 0 {
		return nil
	}
	fx.u.tooBigSeq, fx.u.tooBigErr = 0, nil
	var uid uint32
	fc := b.conn.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{UID: true})
	err := imapconn.EachMessage(fc, func(m *imapclient.FetchMessageBuffer) error {
		uid = uint32(m.UID)
		return nil
	})
	if err != nil || uid == 0 {
		return fmt.Errorf("%w (and its UID could not be found: %v)", cause, err)
	}
	fx.fail(uid, cause)
	progress.Send(b.rep, progress.Event{Kind: progress.Failed, Account: b.a.Name, Folder: fx.mb.name, UID: uid, Err: cause})
	return nil
}

// stopRetry: errors the session hands back at once, without a
// reconnect of its own.
func stopRetry(err error) bool { return archiveFailed(err) || errors.Is(err, errSkipped) }
