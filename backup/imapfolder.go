package backup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
)

// folderRun is the state of one folder's backup; it survives reconnects.
type folderRun struct {
	mb       mailbox
	f        *archive.Folder
	fr       FolderResult
	stored   uint32 // highest UID recorded in this run (all below it too)
	sinceCkp int
	bytesCkp int64 // message bytes since the last checkpoint
	lastCkp  time.Time
	floor    uint32 // UIDs at or below this are not fetched again (set before each FETCH)

	mu     sync.Mutex
	failed map[uint32]error // UIDs the server would not give us

	u uidState // what the server's UIDs look like (imapuid.go)
}

func (fx *folderRun) fail(uid uint32, err error) {
	fx.mu.Lock()
	fx.failed[uid] = err
	fx.mu.Unlock()
}

// lowestFailed is the smallest UID that failed, or 0.
func (fx *folderRun) lowestFailed() uint32 {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	var min uint32
	for k := range fx.failed {
		if min == 0 || k < min {
			min = k
		}
	}
	return min
}

func (b *imapBackup) folder(mb mailbox) FolderResult {
	fx := &folderRun{mb: mb, fr: FolderResult{Name: mb.name}, failed: map[uint32]error{}}
	if why := b.unreadable(mb, nil); why != "" {
		return b.skipUnreadable(fx, why)
	}
	if b.a.DryRun {
		fx.fr.Err = b.retry("examine "+mb.name, func() error { return b.dryRun(fx) })
		if why := b.unreadable(mb, fx.fr.Err); why != "" {
			return b.skipUnreadable(fx, why)
		}
		return fx.fr
	}
	var err error
	if fx.f, err = b.repo.Folder(b.ctx, b.acct, mb.name); err != nil {
		fx.fr.Err = err
		return fx.fr
	}
	fx.f.Delimiter = ""
	if mb.delim != 0 {
		fx.f.Delimiter = string(mb.delim)
	}
	fx.f.SpecialUse, fx.f.Attrs, fx.f.Subscribed = mb.specialUse, mb.attrs, mb.subscribed
	fx.f.GoneSince = time.Time{}
	fx.f.LastSeen = time.Now()

	if st := mb.status; st != nil && b.unchanged(fx.f, st) {
		fx.fr.Skipped = true
		if err := b.repo.UpdateFolder(b.ctx, fx.f); err != nil {
			fx.fr.Err = err
		}
		progress.Send(b.rep, progress.Event{Kind: progress.FolderDone, Account: b.a.Name, Folder: mb.name, Text: "unchanged"})
		return fx.fr
	}
	err = b.retry("back up "+mb.name, func() error { return b.syncFolder(fx) })
	if why := b.unreadable(mb, err); why != "" {
		return b.skipUnreadable(fx, why)
	}
	if err != nil && (b.ctx.Err() != nil || errors.Is(err, ratelimit.ErrBudget)) && !b.repoFailed(err) {
		// Interrupted or out of allowance: keep what was stored.
		fx.advance()
		wctx := context.WithoutCancel(b.ctx)
		if uerr := b.repo.UpdateFolder(wctx, fx.f); uerr == nil {
			b.repo.Commit(wctx)
		}
	}
	if errors.Is(err, ratelimit.ErrBudget) {
		b.res.Budget = err.Error()
		progress.Send(b.rep, progress.Event{Kind: progress.Warning, Account: b.a.Name, Folder: mb.name,
			Text: err.Error() + "; stopped cleanly, the next run continues"})
		err = nil
	}
	if err != nil {
		fx.fr.Err = fmt.Errorf("%s/%s: %w", b.a.Name, mb.name, err)
	}
	fx.mu.Lock()
	defer fx.mu.Unlock()
	for uid, ferr := range fx.failed {
		b.res.Errors = append(b.res.Errors, fmt.Errorf("%s/%s uid %d: %w", b.a.Name, mb.name, uid, ferr))
	}
	progress.Send(b.rep, progress.Event{Kind: progress.FolderDone, Account: b.a.Name, Folder: mb.name, Err: fx.fr.Err})
	return fx.fr
}

// unchanged reports whether LIST-STATUS shows nothing new since the last
// run: same UIDVALIDITY, UIDNEXT and message count, and (CONDSTORE) the
// same HIGHESTMODSEQ. Without CONDSTORE flags may have changed, so the
// folder is examined anyway.
func (b *imapBackup) unchanged(f *archive.Folder, st *imap.StatusData) bool {
	if !b.condstore || st.UIDValidity == 0 || st.UIDNext == 0 || st.NumMessages == nil {
		return false
	}
	return f.UIDValidity == st.UIDValidity && f.UIDNext == uint32(st.UIDNext) && f.ServerCount == *st.NumMessages &&
		f.HighestModSeq == st.HighestModSeq && f.HighestModSeq != 0 && f.LastUID+1 >= uint32(st.UIDNext)
}

func (b *imapBackup) syncFolder(fx *folderRun) error {
	f := fx.f
	sel, err := b.conn.Select(fx.mb.name, &imap.SelectOptions{ReadOnly: true, CondStore: b.condstore}).Wait()
	if err != nil {
		return err
	}
	modseq := sel.HighestModSeq
	oldLast, err := b.checkSelected(fx, sel)
	if err != nil {
		return err
	}
	if fx.u.untrusted {
		return b.readByContent(fx, sel)
	}

	if err := b.fetchNew(fx, uint32(sel.UIDNext), sel.NumMessages); err != nil {
		return err
	}
	fx.advance()
	if oldLast > 0 {
		if err := b.syncFlags(fx, oldLast, modseq); err != nil {
			return err
		}
	}
	if err := b.findGone(fx, sel.NumMessages); err != nil {
		return err
	}
	f.UIDNext = uint32(sel.UIDNext)
	f.ServerCount = sel.NumMessages
	if fx.lowestFailed() == 0 {
		f.HighestModSeq = modseq
	} else {
		f.HighestModSeq = 0 // look at every flag again next time
	}
	if err := b.repo.UpdateFolder(b.ctx, f); err != nil {
		return err
	}
	return b.repo.Commit(b.ctx)
}
