package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/progress"
)

var deletedFlag = []imap.Flag{imap.FlagDeleted}

// recover sorts out what an interrupted run left in this folder. Its
// intents were committed before its STORE, so for each one:
//   - recorded under another UIDVALIDITY: the UIDs mean nothing now; dropped
//   - no longer on the server: the EXPUNGE happened; recorded as cleanup
//   - on the server without \Deleted: the STORE never happened; dropped
//   - on the server with \Deleted: mailkeep's own flag; returned, so that
//     this pass deletes the message if it still qualifies and takes the
//     flag off again if not.
func (c *cleaner) recover(fx *cleanFolder, uv uint32) (map[uint32]archive.PendingDelete, error) {
	pend, err := c.repo.PendingDeletes(c.ctx, fx.af.ID)
	if err != nil || len(pend) == 0 {
		return nil, err
	}
	cur := map[uint32]archive.PendingDelete{}
	stale := map[uint32][]uint32{}
	var set imap.UIDSet
	for _, p := range pend {
		if p.UIDValidity != uv {
			stale[p.UIDValidity] = append(stale[p.UIDValidity], p.UID)
			continue
		}
		cur[p.UID] = p
		set.AddNum(imap.UID(p.UID))
	}
	if c.a.DryRun {
		fx.fr.Pending = int64(len(cur))
		return cur, nil
	}
	for old, uids := range stale {
		c.warn(fx.mb.name, fmt.Sprintf("%d messages flagged \\Deleted by an interrupted cleanup under UIDVALIDITY %d cannot be identified now; they may still carry the flag",
			len(uids), old))
		if err := c.repo.ClearPendingDeletes(c.ctx, fx.af.ID, old, uids); err != nil {
			return nil, err
		}
	}
	if len(cur) == 0 {
		return nil, c.repo.Commit(c.ctx)
	}
	present := map[uint32][]string{}
	fc := c.conn.Fetch(set, &imap.FetchOptions{UID: true, Flags: true})
	err = imapconn.EachMessage(fc, func(buf *imapclient.FetchMessageBuffer) error {
		if buf.UID != 0 {
			present[uint32(buf.UID)] = imapconn.FlagStrings(buf.Flags)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("uid fetch: %w", err)
	}
	var gone, unflagged []uint32
	ours := map[uint32]archive.PendingDelete{}
	for uid, p := range cur {
		flags, ok := present[uid]
		switch {
		case !ok:
			gone = append(gone, uid)
		case hasFlagFold(flags, `\Deleted`):
			ours[uid] = p
		default:
			unflagged = append(unflagged, uid)
		}
	}
	if err := c.repo.MarkCleanedUp(c.ctx, fx.af.ID, uv, gone, time.Now()); err != nil {
		return nil, err
	}
	fx.fr.Recovered += int64(len(gone))
	if err := c.repo.ClearPendingDeletes(c.ctx, fx.af.ID, uv, unflagged); err != nil {
		return nil, err
	}
	if len(gone) > 0 {
		c.info(fx.mb.name, fmt.Sprintf("%d messages expunged by an interrupted cleanup recorded as cleaned up", len(gone)))
	}
	if len(ours) > 0 {
		c.info(fx.mb.name, fmt.Sprintf("%d messages left flagged \\Deleted by an interrupted cleanup: checking them again", len(ours)))
	}
	return ours, c.repo.Commit(c.ctx)
}

// unflag takes mailkeep's own \Deleted off messages it will not delete.
func (c *cleaner) unflag(fx *cleanFolder, uv uint32, uids []uint32) error {
	if len(uids) == 0 || c.a.DryRun {
		return nil
	}
	set := uidSet(uids)
	if err := c.conn.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: deletedFlag}, nil).Close(); err != nil {
		return fmt.Errorf("uid store -flags \\Deleted: %w", err)
	}
	if err := c.repo.ClearPendingDeletes(c.ctx, fx.af.ID, uv, uids); err != nil {
		return err
	}
	fx.fr.Unflagged += int64(len(uids))
	return c.repo.Commit(c.ctx)
}

func uidSet(uids []uint32) imap.UIDSet {
	var s imap.UIDSet
	for _, u := range uids {
		s.AddNum(imap.UID(u))
	}
	return s
}

func candUIDs(cands []candidate) []uint32 {
	out := make([]uint32, len(cands))
	for i, cd := range cands {
		out[i] = cd.uid
	}
	return out
}

// refuse keeps every candidate for one folder-wide reason, taking
// mailkeep's own \Deleted off those an interrupted run had flagged.
func (c *cleaner) refuse(fx *cleanFolder, uv uint32, cands []candidate, reason, why string) error {
	fx.fr.Kept[reason] += int64(len(cands))
	c.warn(fx.mb.name, fmt.Sprintf("%d messages kept on the server: %s", len(cands), why))
	var ours []uint32
	for _, cd := range cands {
		if cd.ours {
			ours = append(ours, cd.uid)
		}
	}
	return c.unflag(fx, uv, ours)
}

// deleteAll verifies and deletes the candidates in batches. The archive
// is read back one batch ahead: that work (CPU here) overlaps the server's
// STORE and EXPUNGE of the batch before.
func (c *cleaner) deleteAll(fx *cleanFolder, uv uint32, cands []candidate) (err error) {
	if len(cands) == 0 {
		return nil
	}
	caps := c.conn.Caps()
	uidplus := caps.Has(imap.CapUIDPlus)
	trash := c.a.GmailTrash && fx.mb.name != c.trash
	switch {
	case trash && !uidplus:
		return c.refuse(fx, uv, cands, KeptNoUIDPlus, "gmail-trash needs UIDPLUS to find the moved messages in Trash")
	case !uidplus && !c.a.AllowExpunge:
		return c.refuse(fx, uv, cands, KeptNoUIDPlus,
			"the server has no UIDPLUS, so no UID EXPUNGE; a bare EXPUNGE also removes mail others flagged \\Deleted (--allow-expunge permits it while nothing else is \\Deleted)")
	case !uidplus && !trash:
		others, err := c.othersDeleted(cands)
		if err != nil {
			return err
		}
		if others > 0 {
			return c.refuse(fx, uv, cands, KeptOtherDeleted,
				fmt.Sprintf("the server has no UIDPLUS and %d other messages in the folder are \\Deleted; a bare EXPUNGE would remove them too", others))
		}
	}
	progress.Send(c.rep, progress.Event{Kind: progress.FolderStart, Account: c.a.Name, Folder: fx.mb.name, Total: int64(len(cands))})
	defer func() {
		// What was seen gone is recorded however this ends.
		if ferr := c.flushGone(fx, uv, true); ferr != nil && err == nil {
			err = ferr
		}
	}()

	type verified struct {
		n       int
		ok      []candidate
		damaged []damagedCand
		err     error
	}
	vctx, stopVerify := context.WithCancel(c.ctx)
	ch := make(chan verified, 1)
	go func() {
		defer close(ch)
		for start := 0; start < len(cands); start += c.batch {
			part := cands[start:min(start+c.batch, len(cands))]
			ok, damaged, err := c.verifyBatch(vctx, part)
			select {
			case ch <- verified{len(part), ok, damaged, err}:
			case <-vctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		stopVerify()
		for range ch {
		}
	}()

	var unflag []uint32
	done := 0
	for v := range ch {
		if v.err != nil {
			return v.err // a failed or cancelled read is no verdict on the archive
		}
		done += v.n
		for _, d := range v.damaged {
			c.keep(fx, d.cand.serverMsg, d.cand.e, KeptDamaged, d.detail)
			if d.cand.ours {
				unflag = append(unflag, d.cand.uid)
			}
		}
		if len(v.ok) == 0 {
			continue
		}
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if trash {
			err = c.trashBatch(fx, uv, v.ok)
		} else {
			var stop bool
			stop, err = c.deleteBatch(fx, uv, v.ok, uidplus)
			if err == nil && stop {
				err = c.refuse(fx, uv, cands[done:], KeptOtherDeleted, "another client flagged messages \\Deleted while cleanup ran")
				if err == nil {
					err = c.unflag(fx, uv, unflag)
				}
				return err
			}
		}
		if err != nil {
			return err
		}
	}
	return c.unflag(fx, uv, unflag)
}

// flushGone records the messages seen expunged in the archive. It runs
// while the server works on the next batch (the next batch's intents
// commit it: one commit a batch), and when the folder is done or stops
// (commit). It must not be cancelled half-way. Until committed, the
// intents stand for these messages: a run that dies here leaves nothing
// the next run cannot settle.
func (c *cleaner) flushGone(fx *cleanFolder, uv uint32, commit bool) error {
	ctx := context.WithoutCancel(c.ctx)
	if len(fx.gone) > 0 {
		if err := c.repo.MarkCleanedUp(ctx, fx.af.ID, uv, fx.gone, time.Now()); err != nil {
			return err
		}
		fx.gone = fx.gone[:0]
	}
	if !commit {
		return nil
	}
	return c.repo.Commit(ctx)
}

// whileServerWorks runs wait (a command's Close or Wait) while the
// archive records what earlier batches took off the server.
func (c *cleaner) whileServerWorks(fx *cleanFolder, uv uint32, wait func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- wait() }()
	ferr := c.flushGone(fx, uv, false)
	if err := <-errc; err != nil {
		return err
	}
	return ferr
}

// othersDeleted counts \Deleted messages in the folder that are not
// mailkeep's own.
func (c *cleaner) othersDeleted(cands []candidate) (int, error) {
	sd, err := c.conn.UIDSearch(&imap.SearchCriteria{Flag: deletedFlag}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("uid search deleted: %w", err)
	}
	ours := map[uint32]bool{}
	for _, cd := range cands {
		if cd.ours {
			ours[cd.uid] = true
		}
	}
	n := 0
	for _, u := range sd.AllUIDs() {
		if !ours[uint32(u)] {
			n++
		}
	}
	return n, nil
}

// intend commits the intent to delete a batch before anything is flagged.
func (c *cleaner) intend(fx *cleanFolder, uv uint32, batch []candidate) error {
	now := time.Now()
	ps := make([]archive.PendingDelete, len(batch))
	for i, cd := range batch {
		ps[i] = archive.PendingDelete{Folder: fx.af.ID, UIDValidity: uv, UID: cd.uid, Hash: cd.e.Hash, Flags: cd.flags, Since: now}
	}
	if err := c.repo.AddPendingDeletes(c.ctx, ps); err != nil {
		return err
	}
	return c.repo.Commit(c.ctx)
}

// deleteBatch is UID STORE +FLAGS.SILENT (\Deleted) then UID EXPUNGE of
// exactly the batch (RFC 4315 2.1). Without UIDPLUS (--allow-expunge) the
// bare EXPUNGE goes ahead only if the batch is all that is \Deleted;
// otherwise the flags come off again and stop is true.
func (c *cleaner) deleteBatch(fx *cleanFolder, uv uint32, batch []candidate, uidplus bool) (stop bool, err error) {
	if err := c.intend(fx, uv, batch); err != nil {
		return false, err
	}
	set := uidSet(candUIDs(batch))
	if err := c.conn.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: deletedFlag}, nil).Close(); err != nil {
		return false, fmt.Errorf("uid store +flags \\Deleted: %w", err)
	}
	if err := c.stored(fx, batch); err != nil {
		return false, err
	}
	if uidplus {
		exp := c.conn.UIDExpunge(set)
		if err := c.whileServerWorks(fx, uv, exp.Close); err != nil {
			return false, fmt.Errorf("uid expunge: %w", err)
		}
	} else {
		sd, err := c.conn.UIDSearch(&imap.SearchCriteria{Flag: deletedFlag}, nil).Wait()
		if err != nil {
			return false, fmt.Errorf("uid search deleted: %w", err)
		}
		flagged := sd.AllUIDs()
		if len(flagged) != len(batch) || !sameUIDs(flagged, batch) {
			for i := range batch {
				batch[i].ours = true
			}
			return true, c.refuse(fx, uv, batch, KeptOtherDeleted, "another client flagged messages \\Deleted while cleanup ran")
		}
		exp := c.conn.Expunge()
		if err := c.whileServerWorks(fx, uv, exp.Close); err != nil {
			return false, fmt.Errorf("expunge: %w", err)
		}
	}
	return false, c.confirm(fx, uv, batch)
}

// stored runs between STORE and EXPUNGE. An interrupted run stops here:
// the intents are committed, so the next run finds these \Deleted flags
// and completes the batch.
func (c *cleaner) stored(fx *cleanFolder, batch []candidate) error {
	if h := c.a.hooks; h != nil && h.afterStore != nil {
		h.mu.Lock()
		h.afterStore(fx.mb.name, candUIDs(batch))
		h.mu.Unlock()
	}
	return c.ctx.Err()
}

func sameUIDs(got []imap.UID, batch []candidate) bool {
	want := map[uint32]bool{}
	for _, cd := range batch {
		want[cd.uid] = true
	}
	for _, u := range got {
		if !want[uint32(u)] {
			return false
		}
	}
	return true
}

// confirm asks which of the batch are still there after the expunge,
// queues the others to be recorded as gone through cleanup, and takes
// \Deleted off any the server kept.
func (c *cleaner) confirm(fx *cleanFolder, uv uint32, batch []candidate) error {
	sd, err := c.conn.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{uidSet(candUIDs(batch))}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("uid search after expunge: %w", err)
	}
	still := map[uint32]bool{}
	for _, u := range sd.AllUIDs() {
		still[uint32(u)] = true
	}
	var gone, left []uint32
	for _, cd := range batch {
		if still[cd.uid] {
			left = append(left, cd.uid)
			c.keep(fx, cd.serverMsg, cd.e, KeptFailed, "still on the server after the expunge")
			continue
		}
		gone = append(gone, cd.uid)
		fx.fr.Deleted++
		fx.fr.Bytes += cd.size
		if cd.ours {
			fx.fr.Recovered++
		}
		fx.fr.Items = append(fx.fr.Items, c.item(cd))
		progress.Send(c.rep, progress.Event{Kind: progress.Item, Account: c.a.Name, Folder: fx.mb.name, UID: cd.uid, Bytes: cd.size})
	}
	fx.gone = append(fx.gone, gone...) // recorded by flushGone
	return c.unflag(fx, uv, left)
}

func (c *cleaner) info(folder, text string) {
	progress.Send(c.rep, progress.Event{Kind: progress.Info, Account: c.a.Name, Folder: folder, Text: text})
}

// mayDelete is the last check before anything in a folder is deleted: the
// folder is in the account's personal namespace, and MYRIGHTS (where the
// server has ACL) grants the rights to flag \Deleted and to expunge. It is
// asked right before deleting, not trusted from LIST time. If not, every
// candidate is kept with one line and refused is true.
func (c *cleaner) mayDelete(fx *cleanFolder, uv uint32, cands []candidate) (refused bool, err error) {
	if kind := c.ns.Kind(fx.mb.name); kind != namespace.Personal {
		return true, c.refuse(fx, uv, cands, KeptNotOwn,
			fmt.Sprintf("the folder is in the %s namespace, not the account's own: cleanup never deletes there", kind))
	}
	r, ok, err := namespace.MyRights(c.conn.Client, fx.mb.name)
	if err != nil {
		return true, err
	}
	if !ok && c.conn.Caps().Has(imap.CapACL) {
		// The server has ACL but would not say: nothing is known, so
		// nothing is deleted.
		return true, c.refuse(fx, uv, cands, KeptNoRights, "the server refused MYRIGHTS for this folder; nothing deleted")
	}
	if ok && !r.CanDelete() {
		return true, c.refuse(fx, uv, cands, KeptNoRights,
			fmt.Sprintf("MYRIGHTS is %q: no right to delete here (needs t and e, or d); nothing deleted", string(r)))
	}
	return false, nil
}
