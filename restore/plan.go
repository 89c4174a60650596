package restore

import (
	"fmt"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// plan pairs fresh source places of tf with messages the target already
// holds (ledger by place, then by content; then target mail the ledger
// does not explain, by Message-ID, size and date or body hash), carries
// changed flags over, and queues the rest for APPEND. all: check the flags
// of every paired place, not only the fresh ones.
func (e *engine) plan(tf *tfolder, fresh []*place, all bool) error {
	// Counted before the folder is opened: if the target refuses to create
	// it, its messages are the ones not on the target.
	for _, p := range fresh {
		tf.places[p.id] = p
		if p.msgid != "" {
			k := matchKey(maskID(p.msgid), p.size)
			if tf.keys[k] == nil {
				tf.keys[k] = map[archive.Hash]bool{}
			}
			tf.keys[k][p.hash] = true
		}
	}
	if err := e.open(tf); err != nil {
		return err
	}
	// The place the ledger row was written for.
	var rest []*place
	for _, p := range fresh {
		if r := tf.bySource[p.id]; r != nil && r.place == nil {
			if err := e.pair(tf, r, p); err != nil {
				return err
			}
			continue
		}
		rest = append(rest, p)
	}
	// The same message for another place (the source re-numbered it, or a
	// restore follows a migration): any ledger row with its hash not yet
	// taken. Two copies in the source need two on the target.
	var need []*place
	for _, p := range rest {
		if r := freeRow(tf, p.hash); r != nil {
			if err := e.pair(tf, r, p); err != nil {
				return err
			}
			continue
		}
		need = append(need, p)
	}
	var err error
	if len(need) > 0 && !all {
		if need, err = e.steal(tf, need); err != nil {
			return err
		}
	}
	if len(need) > 0 && len(tf.unknown) > 0 {
		if need, err = e.adopt(tf, need, archive.LedgerAdopt); err != nil {
			return err
		}
	}
	var check []*place
	if all {
		for _, p := range tf.places {
			if p.row != nil {
				check = append(check, p)
			}
		}
	} else {
		for _, p := range fresh {
			if p.row != nil {
				check = append(check, p)
			}
		}
	}
	if err := e.syncFlags(tf, check); err != nil {
		return err
	}
	n, bytes := int64(0), int64(0)
	for _, p := range need {
		if p.row != nil || p.skipped || p.queued || p.pending {
			continue
		}
		n++
		bytes += p.size
		if e.o.DryRun {
			tf.res.Copied++
			tf.res.CopiedBytes += p.size
			continue
		}
		p.queued = true
		e.q.push(&job{tf: tf, p: p})
	}
	if n > 0 {
		progress.Send(e.rep, progress.Event{Kind: progress.FolderStart, Account: e.t.Name, Folder: tf.name, Total: n, TotalBytes: bytes})
	}
	return nil
}

func matchKey(msgid string, size int64) string { return fmt.Sprintf("%d %s", size, msgid) }

func freeRow(tf *tfolder, h archive.Hash) *lrow {
	for _, r := range tf.byHash[h] {
		if r.place == nil {
			return r
		}
	}
	return nil
}

// pair records that p is on the target as r.
func (e *engine) pair(tf *tfolder, r *lrow, p *place) error {
	r.place, p.row = p, r
	if r.Source == p.id {
		return nil
	}
	if tf.bySource[r.Source] == r {
		delete(tf.bySource, r.Source)
	}
	r.Source = p.id
	tf.bySource[p.id] = r
	if e.o.DryRun || r.ID == 0 {
		return nil
	}
	return archiveErr(e.repo.UpdateLedger(e.wctx, r.ID, r.Source, r.Flags))
}

// record adds a ledger row for a message now known to be on the target.
func (e *engine) record(tf *tfolder, p *place, uidv, uid uint32, how, targetFlags string) error {
	if uidv != tf.uidv && uidv != 0 {
		// The folder was re-created under us (new UIDVALIDITY): the old
		// rows mean nothing now; the ones for this UIDVALIDITY follow.
		e.warn(tf.name, fmt.Sprintf("UIDVALIDITY changed from %d to %d during the run", tf.uidv, uidv))
		tf.uidv = uidv
	}
	r := &lrow{LedgerEntry: archive.LedgerEntry{Target: e.t.Name, Folder: tf.name, UIDValidity: tf.uidv, UID: uid,
		Hash: p.hash, Source: p.id, How: how, Flags: targetFlags}}
	if !e.o.DryRun {
		if err := e.repo.AddLedger(e.wctx, &r.LedgerEntry); err != nil {
			return archiveErr(err)
		}
		e.sinceCommit++
	}
	tf.onTarget[uid] = true
	tf.bySource[p.id] = r
	tf.byHash[p.hash] = append(tf.byHash[p.hash], r)
	r.place, p.row = p, r
	p.queued, p.pending = false, false
	return nil
}

// steal lets a fresh place take over a target message whose place is gone
// from the source since it was paired: the source server re-numbered the
// folder (UIDVALIDITY changed) while this migration ran.
func (e *engine) steal(tf *tfolder, need []*place) ([]*place, error) {
	var ids []int64
	for _, p := range need {
		for _, r := range tf.byHash[p.hash] {
			if r.place != nil {
				ids = append(ids, r.place.id)
			}
		}
	}
	if len(ids) == 0 {
		return need, nil
	}
	gone, err := e.repo.GonePlaces(e.ctx, ids)
	if err != nil {
		return nil, archiveErr(err)
	}
	var left []*place
	for _, p := range need {
		var taken *lrow
		for _, r := range tf.byHash[p.hash] {
			if r.place != nil && gone[r.place.id] {
				taken = r
				break
			}
		}
		if taken == nil {
			left = append(left, p)
			continue
		}
		old := taken.place
		delete(tf.places, old.id)
		delete(old.src.places, old.id)
		old.row, taken.place = nil, nil
		if err := e.pair(tf, taken, p); err != nil {
			return nil, err
		}
	}
	return left, nil
}

// syncFlags makes the target's flags follow the source's for paired
// places whose flags changed since they were last carried over: only what
// changed is added or removed (+FLAGS/-FLAGS), so flags set on the target
// meanwhile stay, and only flags the folder allows.
func (e *engine) syncFlags(tf *tfolder, places []*place) error {
	type group struct {
		add, del []imap.Flag
		uids     imap.UIDSet
		places   []*place
	}
	groups := map[string]*group{}
	var order []string
	var quiet []*place
	for _, p := range places {
		r := p.row
		if r.Flags == p.flags {
			continue
		}
		add, del := tf.policy.flagDiff(archive.SplitFlags(r.Flags), p.flagList())
		if len(add)+len(del) == 0 {
			quiet = append(quiet, p)
			continue
		}
		k := flagKey(add) + "|" + flagKey(del)
		g := groups[k]
		if g == nil {
			g = &group{add: add, del: del}
			groups[k] = g
			order = append(order, k)
		}
		g.uids.AddNum(imap.UID(r.UID))
		g.places = append(g.places, p)
	}
	if e.o.DryRun {
		for _, g := range groups {
			tf.res.FlagsUpdated += int64(len(g.places))
		}
		return nil
	}
	for _, p := range quiet {
		p.row.Flags = p.flags
		if err := e.repo.UpdateLedger(e.wctx, p.row.ID, p.id, p.flags); err != nil {
			return archiveErr(err)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	c, _, err := e.selectFolder(tf)
	if err != nil {
		return err
	}
	for _, k := range order {
		g := groups[k]
		for _, st := range []*imap.StoreFlags{{Op: imap.StoreFlagsAdd, Silent: true, Flags: g.add}, {Op: imap.StoreFlagsDel, Silent: true, Flags: g.del}} {
			if len(st.Flags) == 0 {
				continue
			}
			if err := dropOnBad(c, c.Store(g.uids, st, nil).Close()); err != nil {
				if c.Broken() {
					return fmt.Errorf("store flags in %s: %w", tf.name, err)
				}
				e.warn(tf.name, fmt.Sprintf("the target refused to change flags %v of %d messages: %v", st.Flags, len(g.places), err))
				g.places = nil
				break
			}
		}
		for _, p := range g.places {
			p.row.Flags = p.flags
			if err := e.repo.UpdateLedger(e.wctx, p.row.ID, p.id, p.flags); err != nil {
				return archiveErr(err)
			}
			tf.res.FlagsUpdated++
			e.sinceCommit++
		}
	}
	return e.commit(false)
}
