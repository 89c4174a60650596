package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// entry is one message of a session's listing.
type entry struct {
	num  int
	size int64  // as LIST reports it
	uidl string // "" when the server has no UIDL
	dup  bool   // the UIDL is listed more than once: not an identity
}

type listing struct {
	entries []*entry
	noUIDL  bool
	byUIDL  map[string][]*entry
}

// Keys. A place in the archive's INBOX is keyed by (the archive's UIDL
// column):
//
//	"<uidl>"             the normal case: the server's UIDL
//	"<uidl> sha256:<hex>" a UIDL that does not name one content: listed
//	                     twice in one listing, or found holding other
//	                     bytes than archived under it. RFC 1939 UIDLs
//	                     are printable without spaces, so these never
//	                     collide with a real one.
//	"sha256:<hex>"       a server without UIDL: identity by content
func keyFor(uidl string, h archive.Hash, shared bool) string {
	switch {
	case uidl == "":
		return "sha256:" + h.String()
	case shared:
		return uidl + " sha256:" + h.String()
	}
	return uidl
}

// contentKey reports whether key is one of the content-derived forms,
// and the UIDL part ("" for "sha256:<hex>").
func contentKey(key string) (uidl string, ok bool) {
	if u, _, found := strings.Cut(key, " sha256:"); found {
		return u, true
	}
	if strings.HasPrefix(key, "sha256:") {
		return "", true
	}
	return key, false
}

// listing runs LIST and UIDL.
func (b *pop3Backup) listing() (*listing, error) {
	list, err := b.c.List(b.ctx)
	if err != nil {
		return nil, err
	}
	l := &listing{byUIDL: map[string][]*entry{}}
	uids, err := b.c.UIDL(b.ctx)
	if errors.Is(err, pop3.ErrNoUIDL) {
		l.noUIDL = true
		if !b.warnedNoUIDL {
			b.warnedNoUIDL = true
			b.warn(nil, "server has no UIDL: every message is downloaded on every run and identified by its content (nothing is stored twice)")
		}
	} else if err != nil {
		return nil, err
	}
	byNum := make(map[int]string, len(uids))
	for _, u := range uids {
		byNum[u.Num] = u.UID
	}
	for _, m := range list {
		e := &entry{num: m.Num, size: m.Size, uidl: byNum[m.Num]}
		l.entries = append(l.entries, e)
		if e.uidl != "" {
			l.byUIDL[e.uidl] = append(l.byUIDL[e.uidl], e)
		}
	}
	dups := 0
	for _, es := range l.byUIDL {
		if len(es) > 1 {
			for _, e := range es {
				e.dup = true
			}
			dups += len(es)
		}
	}
	if dups > 0 && !b.warnedDup {
		b.warnedDup = true
		b.warn(nil, fmt.Sprintf("the server lists %d messages under UIDLs it gives more than one message; those are downloaded on every run and identified by UIDL and content", dups))
	}
	return l, nil
}

// due reports whether the deletion policy wants a message first archived
// at first off the server.
func (b *pop3Backup) due(first time.Time) bool {
	if b.a.Delete {
		return true
	}
	if b.a.DeleteBefore == nil {
		return false
	}
	return !first.After(b.a.DeleteBefore(b.now()))
}

func (b *pop3Backup) deleting() bool { return b.a.Delete || b.a.DeleteBefore != nil }

func failKey(e *entry) string {
	if e.uidl == "" || e.dup {
		return fmt.Sprintf("%s#%d", e.uidl, e.num)
	}
	return e.uidl
}

// plan picks the messages to retrieve: UIDLs the archive does not hold,
// and some it does but must look at again: a UIDL it had seen leave the
// server (a server that reuses UIDLs must not make mailkeep skip, or
// delete, a new message), and a message due for deletion whose LIST size
// differs from the archived one. Without trustworthy UIDLs, everything.
func (b *pop3Backup) plan(l *listing) []*entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*entry
	for _, e := range l.entries {
		if b.failed[failKey(e)] {
			continue // refused earlier in this run; reported once
		}
		if e.uidl == "" || e.dup {
			out = append(out, e)
			continue
		}
		p := b.places[e.uidl]
		switch {
		case p == nil, p.gone:
			out = append(out, e)
		case b.deleting() && b.due(p.first) && p.size != e.size:
			out = append(out, e)
		}
	}
	return out
}

// retrieve streams the planned messages into the archive, in order.
func (b *pop3Backup) retrieve(plan []*entry) error {
	b.mu.Lock()
	b.got, b.sessFailed = map[int]string{}, map[int]bool{}
	b.mu.Unlock()
	if len(plan) == 0 {
		return nil
	}
	want := make(map[int]*entry, len(plan))
	nums := make([]int, len(plan))
	var total int64
	for i, e := range plan {
		want[e.num] = e
		nums[i] = e.num
		total += e.size
	}
	if !b.started {
		b.started = true
		progress.Send(b.rep, progress.Event{Kind: progress.FolderStart, Account: b.a.Name, Folder: POP3Folder,
			Total: int64(len(plan)), TotalBytes: total})
	}
	g := newIngester(b.ctx, b.repo, func(it *item) error { return b.record(want[it.num], it) })
	g.budget = newBudget(pop3InFlight) // set before the first add, so no goroutine has seen the default
	rerr := b.c.RetrMany(b.ctx, nums, func(num int, r io.Reader, serr error) error {
		e := want[num]
		if serr != nil {
			b.mu.Lock()
			b.failed[failKey(e)] = true
			b.sessFailed[num] = true
			b.mu.Unlock()
			b.fail(e, serr)
			return nil
		}
		it, err := b.read(e, r)
		if err != nil {
			return err
		}
		if err := g.add(it); err != nil {
			return archiveErr(err)
		}
		return nil
	})
	if werr := g.close(); werr != nil {
		return archiveErr(werr)
	}
	if b.sizeWarnings > maxSizeWarnings {
		b.warn(nil, fmt.Sprintf("%d more messages had a RETR size different from LIST; stored the bytes as sent", b.sizeWarnings-maxSizeWarnings))
		b.sizeWarnings = maxSizeWarnings
	}
	if rerr != nil {
		// Commit what arrived before the line dropped, so that the next
		// session (or run) only fetches the rest.
		if err := b.checkpoint(); err != nil {
			return err
		}
		return rerr
	}
	return b.checkpoint()
}

const maxSizeWarnings = 5

// pop3InFlight bounds the raw bytes between the wire and the archive. One
// POP3 connection delivers one message at a time, so a smaller window than
// IMAP's keeps every core busy and the process well under 64 MB.
const pop3InFlight = 8 << 20

// readErr remembers an error of the POP3 stream, to tell it from an
// error of the archive it is copied into.
type readErr struct {
	r   io.Reader
	err error
}

func (t *readErr) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// read takes one message off the wire: into memory when it is small
// (the ingest pipeline hashes and compresses it on another core),
// straight into the archive when it is large, so no message is ever held
// in memory whole above archive.BigMessage.
func (b *pop3Backup) read(e *entry, r io.Reader) (*item, error) {
	it := &item{num: e.num, uidl: e.uidl}
	var n int64
	var head []byte
	if e.size <= archive.BigMessage {
		buf, more, err := readUpTo(r, e.size, archive.BigMessage)
		if err != nil {
			return nil, err
		}
		if !more {
			it.raw = buf
			n = int64(len(buf))
		}
		head = buf
	}
	if it.raw == nil {
		src := &readErr{r: io.MultiReader(bytes.NewReader(head), r)}
		h, size, added, err := b.repo.PutMessageReader(b.ctx, src, -1)
		if err != nil {
			if src.err != nil {
				return nil, src.err
			}
			return nil, archiveErr(fmt.Errorf("store large message: %w", err))
		}
		it.hash, it.size, it.added, n = h, size, added, size
	}
	if n != e.size {
		b.sizeWarnings++
		if b.sizeWarnings <= maxSizeWarnings {
			b.warn(e, fmt.Sprintf("LIST said %d bytes but RETR sent %d; stored the bytes as sent", e.size, n))
		}
	}
	return it, nil
}

// readUpTo reads r to its end into a buffer sized by hint. If r holds
// more than limit bytes it stops after limit+1 and reports more; the
// bytes read so far are returned either way.
func readUpTo(r io.Reader, hint, limit int64) (buf []byte, more bool, err error) {
	c := min(max(hint+1, 512), limit+1)
	buf = make([]byte, 0, c)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, true, nil
			}
			nb := make([]byte, len(buf), min(int64(2*cap(buf)), limit+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// record runs in order for every message stored: the index row, the
// counts, progress, and every CommitEvery messages a checkpoint.
func (b *pop3Backup) record(e *entry, it *item) error {
	size := it.size
	if it.raw != nil {
		size = int64(len(it.raw))
	}
	b.mu.Lock()
	p := b.places[e.uidl]
	changed := e.uidl != "" && !e.dup && p != nil && p.hash != it.hash
	b.mu.Unlock()
	if changed {
		b.warn(e, fmt.Sprintf("the server now has other bytes under this UIDL than the archive; archived them as a new message (sha256 %s)", it.hash))
	}
	key := keyFor(e.uidl, it.hash, e.dup || changed)
	if err := b.repo.AddMessage(b.ctx, &archive.Message{Folder: b.folder.ID, UIDL: key, Hash: it.hash, Size: size}); err != nil {
		return err
	}
	b.mu.Lock()
	if p := b.places[key]; p != nil {
		p.gone = false
	} else {
		b.places[key] = &place{hash: it.hash, size: size, first: b.now()}
	}
	b.got[e.num] = key
	if it.added {
		b.fr.New++
		b.res.New++
	} else {
		b.fr.Seen++
		b.res.Seen++
	}
	b.fr.Bytes += size
	b.res.Bytes += size
	b.sinceCkp++
	every := b.a.CommitEvery
	if every <= 0 {
		every = 500
	}
	ckp := b.sinceCkp >= every || time.Since(b.lastCkp) > 2*time.Second
	b.mu.Unlock()
	progress.Send(b.rep, progress.Event{Kind: progress.Item, Account: b.a.Name, Folder: POP3Folder, UIDL: key, Bytes: size})
	if ckp {
		return b.checkpoint()
	}
	return nil
}

func (b *pop3Backup) checkpoint() error {
	b.mu.Lock()
	b.sinceCkp, b.lastCkp = 0, time.Now()
	b.mu.Unlock()
	return archiveErr(b.repo.Commit(b.ctx))
}

// markGone records the places whose UIDL the server no longer lists.
// Content-keyed places are settled after retrieval (settleContent).
func (b *pop3Backup) markGone(l *listing) error {
	if l.noUIDL {
		return nil // no UIDLs to compare with
	}
	b.mu.Lock()
	var gone []string
	for key, p := range b.places {
		if p.gone {
			continue
		}
		uidl, _ := contentKey(key)
		if uidl == "" {
			continue
		}
		if len(l.byUIDL[uidl]) == 0 {
			gone = append(gone, key)
		}
	}
	b.mu.Unlock()
	return b.setGone(gone, archive.GoneExpunged)
}

func (b *pop3Backup) setGone(keys []string, reason string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := b.repo.MarkGone(b.ctx, b.folder.ID, 0, nil, keys, reason, b.now()); err != nil {
		return archiveErr(err)
	}
	b.mu.Lock()
	for _, k := range keys {
		if p := b.places[k]; p != nil && !p.gone {
			p.gone = true
			b.fr.Gone++
			b.res.Gone++
		}
	}
	b.mu.Unlock()
	return nil
}

// settleContent marks gone the content-keyed places the server no longer
// holds, as far as this session can tell: without UIDL, when every
// listed message was retrieved; for a shared UIDL, when every message
// listed under it was.
func (b *pop3Backup) settleContent(l *listing) error {
	b.mu.Lock()
	seen := map[string]bool{}
	for _, k := range b.got {
		seen[k] = true
	}
	complete := map[string]bool{} // UIDL ("" = no UIDL) -> all its messages retrieved
	for _, e := range l.entries {
		u := e.uidl
		if !e.dup && u != "" {
			continue
		}
		if _, ok := complete[u]; !ok {
			complete[u] = true
		}
		if _, ok := b.got[e.num]; !ok {
			complete[u] = false
		}
	}
	var gone []string
	for key, p := range b.places {
		uidl, ok := contentKey(key)
		if !ok || p.gone || seen[key] {
			continue
		}
		if l.noUIDL != (uidl == "") {
			continue
		}
		if complete[uidl] {
			gone = append(gone, key)
		}
	}
	b.mu.Unlock()
	if err := b.setGone(gone, archive.GoneExpunged); err != nil {
		return err
	}
	b.folder.LastSeen = time.Now()
	b.folder.ServerCount = uint32(len(l.entries))
	b.folder.GoneSince = time.Time{}
	if err := b.repo.UpdateFolder(b.ctx, b.folder); err != nil {
		return archiveErr(err)
	}
	return b.checkpoint()
}
