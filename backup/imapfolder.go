package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
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
	lastCkp  time.Time
	floor    uint32 // UIDs at or below this are not fetched again (set before each FETCH)

	mu     sync.Mutex
	failed map[uint32]error // UIDs the server would not give us
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
	if b.a.DryRun {
		fx.fr.Err = b.retry("examine "+mb.name, func() error { return b.dryRun(fx) })
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
	if f.UIDValidity != 0 && f.UIDValidity != sel.UIDValidity {
		// RFC 3501 2.3.1.1: the old UIDs mean nothing now. Read the folder
		// again; content dedup stores no message twice.
		progress.Send(b.rep, progress.Event{Kind: progress.Warning, Account: b.a.Name, Folder: fx.mb.name,
			Text: fmt.Sprintf("UIDVALIDITY changed from %d to %d; re-reading the folder", f.UIDValidity, sel.UIDValidity)})
		if err := b.repo.MarkFolderGone(b.ctx, f, archive.GoneUIDValidity, sel.UIDValidity, time.Now()); err != nil {
			return err
		}
		f.LastUID, f.HighestModSeq, fx.stored = 0, 0, 0
	}
	f.UIDValidity = sel.UIDValidity
	if fx.stored < f.LastUID {
		fx.stored = f.LastUID
	}
	oldLast := f.LastUID

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

// fetchNew streams every message above the folder's checkpoint into the
// archive: UID FETCH n:* of BODY.PEEK[] (never sets \Seen), FLAGS,
// INTERNALDATE, RFC822.SIZE.
func (b *imapBackup) fetchNew(fx *folderRun, uidNext, count uint32) error {
	from := fx.stored + 1
	if uidNext != 0 && from >= uidNext {
		return nil
	}
	if count == 0 {
		return nil
	}
	estimate := int64(count)
	progress.Send(b.rep, progress.Event{Kind: progress.FolderStart, Account: b.a.Name, Folder: fx.mb.name, Total: estimate})

	fx.floor = fx.stored
	g := newIngester(b.ctx, b.repo, func(it *item) error { return b.record(fx, it) })
	fetchErr := b.fetchRange(fx, g, imap.UIDSet{imap.UIDRange{Start: imap.UID(from), Stop: 0}})
	werr := g.close()
	if werr != nil {
		return werr
	}
	if fetchErr != nil && !b.conn.Broken() && !isConnErr(fetchErr) {
		// The server refused part of the range (a message it cannot
		// parse, say): fetch what is left one by one, so one bad message
		// does not hold the others back.
		return b.fetchOneByOne(fx, fetchErr)
	}
	return fetchErr
}

// abortFetch gives up on a FETCH in the middle: go-imap's reader waits for
// the consumer to take every item, and Client.Close waits for the reader,
// so the socket is closed first and the rest drained concurrently.
func abortFetch(c *imapconn.Conn, fc *imapclient.FetchCommand) {
	c.Abort()
	done := make(chan struct{})
	go func() {
		fc.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func isConnErr(err error) bool {
	var ie *imap.Error
	return !errors.As(err, &ie)
}

func (b *imapBackup) fetchRange(fx *folderRun, g *ingester, set imap.NumSet) error {
	opts := &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, ModSeq: b.condstore,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}
	fc := b.conn.Fetch(set, opts)
	var loopErr error
	for {
		msg := fc.Next()
		if msg == nil {
			break
		}
		it, err := b.readMessage(fx, msg)
		if err != nil {
			loopErr = err
			break
		}
		if it == nil {
			continue
		}
		if err := g.add(it); err != nil {
			loopErr = err
			break
		}
	}
	if loopErr != nil {
		abortFetch(b.conn, fc)
		return loopErr
	}
	// A dropped connection may show only here (LIBRARIES.md): always check.
	return fc.Close()
}

// readMessage collects one FETCH response. The server chooses the order
// of the items: BODY[] may come before UID, FLAGS and INTERNALDATE.
func (b *imapBackup) readMessage(fx *folderRun, msg *imapclient.FetchMessageData) (*item, error) {
	it := &item{}
	var gotBody bool
	var rfcSize int64 = -1
	var streamed bool
	for {
		fi := msg.Next()
		if fi == nil {
			break
		}
		switch d := fi.(type) {
		case imapclient.FetchItemDataUID:
			it.uid = uint32(d.UID)
		case imapclient.FetchItemDataFlags:
			it.flags = flagStrings(d.Flags)
		case imapclient.FetchItemDataInternalDate:
			it.date = d.Time
		case imapclient.FetchItemDataRFC822Size:
			rfcSize = d.Size
		case imapclient.FetchItemDataModSeq:
			it.modseq = d.ModSeq
		case imapclient.FetchItemDataBodySection:
			if d.Literal == nil {
				gotBody = true // NIL body: a 0-byte message
				it.raw = []byte{}
				continue
			}
			size := d.Literal.Size()
			if size <= bigInline {
				raw := make([]byte, size)
				if _, err := io.ReadFull(d.Literal, raw); err != nil {
					return nil, fmt.Errorf("read message body: %w", err)
				}
				it.raw = raw
			} else {
				h, n, added, err := b.repo.PutMessageReader(b.ctx, d.Literal, size)
				if err != nil {
					return nil, fmt.Errorf("store large message (%d bytes): %w", size, err)
				}
				it.hash, it.size, it.added, streamed = h, n, added, true
			}
			gotBody = true
		}
	}
	if it.uid == 0 {
		return nil, fmt.Errorf("server sent a FETCH response without UID")
	}
	if it.uid <= fx.floor {
		return nil, nil // "n:*" returns the last message even when n is beyond it
	}
	if !gotBody {
		return nil, fmt.Errorf("uid %d: server sent no body", it.uid)
	}
	if !streamed && it.raw == nil {
		it.raw = []byte{}
	}
	n := int64(len(it.raw))
	if streamed {
		n = it.size
	}
	if rfcSize >= 0 && rfcSize != n {
		progress.Send(b.rep, progress.Event{Kind: progress.Warning, Account: b.a.Name, Folder: fx.mb.name, UID: it.uid,
			Text: fmt.Sprintf("RFC822.SIZE %d but BODY[] has %d bytes; stored the bytes as sent", rfcSize, n)})
	}
	return it, nil
}

// bigInline is the size above which a message streams into the archive
// instead of being held in memory.
const bigInline = 4 << 20

func flagStrings(fl []imap.Flag) []string {
	out := make([]string, 0, len(fl))
	for _, f := range fl {
		out = append(out, string(f))
	}
	return out
}

// record runs in order for every stored message: the index row, progress,
// and every CommitEvery messages a checkpoint.
func (b *imapBackup) record(fx *folderRun, it *item) error {
	size := it.size
	if it.raw != nil {
		size = int64(len(it.raw))
	}
	m := &archive.Message{Folder: fx.f.ID, UIDValidity: fx.f.UIDValidity, UID: it.uid, Hash: it.hash, Size: size,
		Flags: it.flags, InternalDate: it.date, ModSeq: it.modseq}
	if err := b.repo.AddMessage(b.ctx, m); err != nil {
		return err
	}
	if it.added {
		fx.fr.New++
		b.res.New++
	} else {
		fx.fr.Seen++
		b.res.Seen++
	}
	fx.fr.Bytes += size
	b.res.Bytes += size
	if b.a.Budget != nil {
		if err := b.a.Budget.Take(size); err != nil {
			// This message is recorded; the day's allowance is used up:
			// stop here, the next run goes on from this checkpoint.
			fx.advance()
			return err
		}
	}
	if it.uid > fx.stored {
		fx.stored = it.uid
	}
	progress.Send(b.rep, progress.Event{Kind: progress.Item, Account: b.a.Name, Folder: fx.mb.name, UID: it.uid, Bytes: size})
	fx.sinceCkp++
	every := b.a.CommitEvery
	if every <= 0 {
		every = 500
	}
	if fx.sinceCkp >= every || time.Since(fx.lastCkp) > 2*time.Second {
		return b.checkpoint(fx)
	}
	return nil
}

// advance moves the folder's checkpoint up to what this run stored,
// but never past a UID that failed: the next run tries it again.
func (fx *folderRun) advance() {
	if low := fx.lowestFailed(); low == 0 || low > fx.stored {
		fx.f.LastUID = fx.stored
	} else if low-1 > fx.f.LastUID {
		fx.f.LastUID = low - 1
	}
}

func (b *imapBackup) checkpoint(fx *folderRun) error {
	fx.advance()
	fx.sinceCkp, fx.lastCkp = 0, time.Now()
	if err := b.repo.UpdateFolder(b.ctx, fx.f); err != nil {
		return err
	}
	return b.repo.Commit(b.ctx)
}

// fetchOneByOne fetches the UIDs above the checkpoint singly after a
// FETCH of the whole range failed with a server error.
func (b *imapBackup) fetchOneByOne(fx *folderRun, cause error) error {
	sd, err := b.conn.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: imap.UID(fx.stored + 1), Stop: 0}}}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("%w (and UID SEARCH failed: %v)", cause, err)
	}
	fx.floor = fx.stored
	g := newIngester(b.ctx, b.repo, func(it *item) error { return b.record(fx, it) })
	var connErr error
	for _, uid := range sd.AllUIDs() {
		if uint32(uid) <= fx.floor {
			continue
		}
		err := b.fetchRange(fx, g, imap.UIDSetNum(uid))
		if err != nil {
			if b.conn.Broken() || isConnErr(err) {
				connErr = err
				break
			}
			fx.fail(uint32(uid), err)
			progress.Send(b.rep, progress.Event{Kind: progress.Failed, Account: b.a.Name, Folder: fx.mb.name, UID: uint32(uid), Err: err})
		}
	}
	if err := g.close(); err != nil {
		return err
	}
	if connErr != nil {
		return connErr
	}
	return b.checkpoint(fx)
}

// syncFlags brings the stored flags of messages up to oldLast up to date:
// with CONDSTORE only what changed since the stored HIGHESTMODSEQ (RFC
// 7162 3.1.4), otherwise one FLAGS sweep over the folder.
func (b *imapBackup) syncFlags(fx *folderRun, oldLast uint32, modseq uint64) error {
	f := fx.f
	opts := &imap.FetchOptions{UID: true, Flags: true, ModSeq: b.condstore}
	if b.condstore && f.HighestModSeq != 0 {
		if modseq == f.HighestModSeq {
			return nil
		}
		opts.ChangedSince = f.HighestModSeq
	}
	stored, err := b.repo.MessageFlags(b.ctx, f.ID, f.UIDValidity)
	if err != nil {
		return err
	}
	fc := b.conn.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: imap.UID(oldLast)}}, opts)
	for {
		msg := fc.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			fc.Close()
			return err
		}
		uid := uint32(buf.UID)
		old, ok := stored[uid]
		if !ok {
			continue
		}
		nf := archive.JoinFlags(flagStrings(buf.Flags))
		if nf != old {
			if err := b.repo.SetFlags(b.ctx, f.ID, f.UIDValidity, uid, flagStrings(buf.Flags), buf.ModSeq); err != nil {
				fc.Close()
				return err
			}
			fx.fr.Flags++
			b.res.Flags++
		}
	}
	return fc.Close()
}

// findGone marks messages the server no longer has. When the server's
// count equals the archive's, nothing can have gone (new messages would
// have raised UIDNEXT, and those were fetched), so no UID list is needed.
func (b *imapBackup) findGone(fx *folderRun, serverCount uint32) error {
	f := fx.f
	present, err := b.repo.PresentUIDs(b.ctx, f.ID, f.UIDValidity)
	if err != nil {
		return err
	}
	if uint32(len(present)) == serverCount {
		return nil
	}
	var onServer []imap.UID
	if serverCount > 0 {
		sd, err := b.conn.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return err
		}
		onServer = sd.AllUIDs()
	}
	slices.Sort(onServer)
	var gone []uint32
	for _, u := range present {
		if _, found := slices.BinarySearch(onServer, imap.UID(u)); !found {
			gone = append(gone, u)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := b.repo.MarkGone(b.ctx, f.ID, f.UIDValidity, gone, nil, archive.GoneExpunged, time.Now()); err != nil {
		return err
	}
	fx.fr.Gone += int64(len(gone))
	b.res.Gone += int64(len(gone))
	return nil
}

// dryRun counts what a real run would fetch.
func (b *imapBackup) dryRun(fx *folderRun) error {
	var last uint32
	var uv uint32
	if b.acct != nil {
		if f, err := b.repo.Folders(b.ctx, b.acct); err == nil {
			for _, x := range f {
				if x.Name == fx.mb.name {
					last, uv = x.LastUID, x.UIDValidity
				}
			}
		}
	}
	sel, err := b.conn.Select(fx.mb.name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return err
	}
	if uv != sel.UIDValidity {
		last = 0
	}
	if sel.NumMessages == 0 || (sel.UIDNext != 0 && last+1 >= uint32(sel.UIDNext)) {
		progress.Send(b.rep, progress.Event{Kind: progress.FolderDone, Account: b.a.Name, Folder: fx.mb.name, Text: "would fetch 0 messages"})
		return nil
	}
	fc := b.conn.Fetch(imap.UIDSet{imap.UIDRange{Start: imap.UID(last + 1), Stop: 0}}, &imap.FetchOptions{UID: true, RFC822Size: true})
	for {
		msg := fc.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			break
		}
		if uint32(buf.UID) > last {
			fx.fr.New++
			fx.fr.Bytes += buf.RFC822Size
		}
	}
	if err := fc.Close(); err != nil {
		return err
	}
	b.res.New += fx.fr.New
	b.res.Bytes += fx.fr.Bytes
	progress.Send(b.rep, progress.Event{Kind: progress.FolderDone, Account: b.a.Name, Folder: fx.mb.name,
		Total: fx.fr.New, TotalBytes: fx.fr.Bytes, Text: fmt.Sprintf("would fetch %d messages, %d bytes", fx.fr.New, fx.fr.Bytes)})
	return nil
}
