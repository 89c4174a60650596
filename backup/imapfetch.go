package backup

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/progress"
)

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
	if !b.folderStarted(fx.mb.name) {
		progress.Send(b.rep, progress.Event{Kind: progress.FolderStart, Account: b.a.Name, Folder: fx.mb.name, Total: int64(count)})
	}

	if err := b.resolveTooBig(fx); err != nil {
		return err
	}
	fx.floor = fx.stored
	fx.u.uidNext = uidNext
	g := newIngester(b.ctx, b.repo, func(it *item) error { return b.record(fx, it) })
	fetchErr := b.fetchRange(fx, g, fx.newSet(from))
	werr := g.close()
	if werr != nil {
		return werr
	}
	if fetchErr != nil && fx.u.disorder.Load() {
		fx.stored = fx.floor // out of order and cut short: which came is unknown
	}
	var le *imapconn.LimitError
	if errors.As(b.conn.Err(fetchErr), &le) && le.What == "message" {
		return b.tooBig(fx, le)
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

func (b *imapBackup) fetchRange(fx *folderRun, g *ingester, set imap.UIDSet) error {
	opts := &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, ModSeq: b.condstore,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}
	fx.startFetch(set, fx.u.uidNext)
	b.conn.OnStrayFetch(func(seq, uid uint32) { b.stray(fx, seq, uid) })
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
			it.flags = imapconn.FlagStrings(d.Flags)
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
			if size <= archive.BigMessage {
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
	if !b.accept(fx, it.uid, msg.SeqNum) {
		return nil, nil
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

// A checkpoint (pack fsync, index commit) comes every commitEvery
// messages, commitBytes of mail or two seconds, whichever is first: what
// a crash costs is fetching that again. Each commit writes every index
// page its messages touched, and the hash index's pages are touched at
// random: 500 small messages a commit wrote ~3 KB of WAL a message; a
// larger one touches the same pages for more messages.
const (
	commitEvery = 5000
	commitBytes = 32 << 20
)

// record runs in order for every stored message: the index row, progress,
// and every CommitEvery messages a checkpoint.
func (b *imapBackup) record(fx *folderRun, it *item) error {
	size := it.size
	if it.raw != nil {
		size = int64(len(it.raw))
	}
	m := &archive.Message{Folder: fx.f.ID, UIDValidity: fx.f.UIDValidity, UID: it.uid, Hash: it.hash, Size: size,
		Flags: it.flags, InternalDate: it.date}
	if fx.u.untrusted {
		// No UIDVALIDITY: the place is the content itself, never an UID
		// that might name another message next time.
		m.UIDValidity, m.UID, m.UIDL = 0, 0, "sha256:"+it.hash.String()
	}
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
	if it.uid > fx.stored && !fx.u.untrusted {
		fx.stored = it.uid
	}
	progress.Send(b.rep, progress.Event{Kind: progress.Item, Account: b.a.Name, Folder: fx.mb.name, UID: it.uid, Bytes: size})
	fx.sinceCkp++
	fx.bytesCkp += size
	every := b.a.CommitEvery
	if every <= 0 {
		every = commitEvery
	}
	if fx.sinceCkp >= every || fx.bytesCkp >= commitBytes || time.Since(fx.lastCkp) > 2*time.Second {
		if fx.u.disorder.Load() {
			// UIDs out of order: what came so far is durable, but the
			// checkpoint waits for the whole FETCH.
			fx.sinceCkp, fx.bytesCkp, fx.lastCkp = 0, 0, time.Now()
			return b.repo.Commit(b.ctx)
		}
		return b.checkpoint(fx)
	}
	return nil
}

// advance moves the folder's checkpoint up to what this run stored,
// but never past a UID that failed: the next run tries it again.
func (fx *folderRun) advance() {
	if fx.u.untrusted {
		return // UIDs mean nothing here; the checkpoint stays
	}
	if low := fx.lowestFailed(); low == 0 || low > fx.stored {
		fx.f.LastUID = fx.stored
	} else if low-1 > fx.f.LastUID {
		fx.f.LastUID = low - 1
	}
}

func (b *imapBackup) checkpoint(fx *folderRun) error {
	fx.advance()
	fx.sinceCkp, fx.bytesCkp, fx.lastCkp = 0, 0, time.Now()
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
