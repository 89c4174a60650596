package backup

import (
	"context"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// cleanFolder is one folder's cleanup; it survives reconnects.
type cleanFolder struct {
	mb       mailbox
	af       *archive.Folder // nil: nothing of it archived
	fr       CleanupFolder
	searched bool
	// Gmail: what was moved to Trash and must be expunged there.
	trashUV   uint32
	trashUIDs imap.UIDSet
	// Expunged, to be recorded in the archive (see flushGone).
	gone []uint32
}

// serverMsg is what the server says about one candidate.
type serverMsg struct {
	uid   uint32
	flags []string
	size  int64
	date  time.Time
}

// candidate is a message that passed every check but the last ones.
type candidate struct {
	serverMsg
	e    *archive.Entry
	ours bool // flagged \Deleted by an interrupted run of ours
}

func (c *cleaner) folder(mb mailbox) CleanupFolder {
	fx := &cleanFolder{mb: mb, af: c.archive[mb.name], fr: CleanupFolder{Name: mb.name, Kept: map[string]int64{}}}
	if fx.af == nil {
		fx.fr.Skipped = "nothing of this folder is archived (its backup failed?); left alone"
		progress.Send(c.rep, progress.Event{Kind: progress.FolderDone, Account: c.a.Name, Folder: mb.name, Text: fx.fr.Skipped})
		return fx.fr
	}
	err := c.retry("clean up "+mb.name, func() error { return c.cleanFolder(fx) })
	if err == nil && len(fx.trashUIDs) > 0 {
		err = c.retry("empty "+c.trash, func() error { return c.purgeTrash(fx) })
	}
	if err != nil {
		fx.fr.Err = fmt.Errorf("%s/%s: %w", c.a.Name, mb.name, err)
	}
	progress.Send(c.rep, progress.Event{Kind: progress.FolderDone, Account: c.a.Name, Folder: mb.name,
		Total: fx.fr.Deleted, TotalBytes: fx.fr.Bytes, Err: fx.fr.Err, Text: summary(&fx.fr, c.a.DryRun)})
	return fx.fr
}

// summary is a folder's result in one line.
func summary(f *CleanupFolder, dry bool) string {
	if f.Skipped != "" {
		return f.Skipped
	}
	verb := "deleted"
	if dry {
		verb = "would delete"
	}
	s := fmt.Sprintf("%d candidates, %s %d (%d bytes)", f.Candidates, verb, f.Deleted, f.Bytes)
	if n := f.KeptTotal(); n > 0 {
		s += fmt.Sprintf(", kept %d (%s)", n, KeptString(f.Kept))
	}
	if f.Recovered > 0 {
		s += fmt.Sprintf(", completed %d left by an interrupted run", f.Recovered)
	}
	if f.Unflagged > 0 {
		s += fmt.Sprintf(", took \\Deleted off %d of mailkeep's own", f.Unflagged)
	}
	if f.Pending > 0 {
		s += fmt.Sprintf(", %d left flagged by an interrupted run (a real run completes them)", f.Pending)
	}
	return s
}

// KeptString writes kept counts as "reason n, reason n", by reason.
func KeptString(kept map[string]int64) string {
	keys := make([]string, 0, len(kept))
	for k, n := range kept {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, kept[k])
	}
	return strings.Join(parts, ", ")
}

func (c *cleaner) keep(fx *cleanFolder, m serverMsg, e *archive.Entry, reason, detail string) {
	fx.fr.Kept[reason]++
	if !problemReasons[reason] {
		return
	}
	it := CleanupItem{UID: m.uid, Date: m.date, Size: m.size, Kept: reason, Detail: detail}
	if e != nil {
		it.Subject, it.Hash = e.Header.Subject, e.Hash
	}
	fx.fr.Items = append(fx.fr.Items, it)
	progress.Send(c.rep, progress.Event{Kind: progress.Warning, Account: c.a.Name, Folder: fx.mb.name, UID: m.uid,
		Text: "kept on the server: " + reason + ": " + detail})
}

// cleanFolder is one pass over a folder. It may run again after a
// reconnect; counts that must not double are reset or guarded.
func (c *cleaner) cleanFolder(fx *cleanFolder) error {
	sel, err := c.conn.Select(fx.mb.name, &imap.SelectOptions{ReadOnly: c.a.DryRun}).Wait()
	if err != nil {
		return err
	}
	uv := sel.UIDValidity
	fx.fr.UIDValidity = uv
	if c.a.DryRun {
		fx.fr.Deleted, fx.fr.Bytes, fx.fr.Items = 0, 0, nil
	}
	ours, err := c.recover(fx, uv)
	if err != nil {
		return err
	}
	if sel.NumMessages == 0 {
		fx.searched = true
		return nil
	}
	sd, err := c.conn.UIDSearch(c.criteria(), nil).Wait()
	if err != nil {
		return fmt.Errorf("uid search: %w", err)
	}
	uids := sd.AllUIDs()
	if !fx.searched {
		fx.fr.Candidates = int64(len(uids))
		fx.searched = true
	}
	clear(fx.fr.Kept)
	fx.fr.Items = slicesDeleteKept(fx.fr.Items)
	if len(uids) == 0 && len(ours) == 0 {
		return nil
	}
	if fx.af.UIDValidity != uv {
		// RFC 3501 2.3.1.1: the archive's UIDs name other messages now.
		fx.fr.Kept[KeptUIDValidity] += int64(len(uids))
		c.warn(fx.mb.name, fmt.Sprintf("UIDVALIDITY is %d on the server but %d in the archive: nothing deleted in this folder (run cleanup again)",
			uv, fx.af.UIDValidity))
		return nil
	}
	// The archive's side is read while the server answers the FETCH.
	var arch map[uint32]*archive.Entry
	var archErr error
	archDone := make(chan struct{})
	go func() {
		defer close(archDone)
		arch, archErr = c.archived(fx.af.ID, uv, uids)
	}()
	metas, err := c.fetchMeta(uids)
	<-archDone
	if err != nil {
		return err
	}
	if archErr != nil {
		return archErr
	}
	var cands []candidate
	for _, m := range metas {
		_, mine := ours[m.uid]
		e := arch[m.uid]
		switch {
		case hasFlagFold(m.flags, `\Deleted`) && !mine:
			c.keep(fx, m, e, KeptAlreadyDeleted, "flagged \\Deleted by someone else")
		case e == nil:
			c.keep(fx, m, nil, KeptNotArchived, "no archived copy at this UIDVALIDITY and UID")
		case e.Size != m.size:
			c.keep(fx, m, e, KeptSizeMismatch, fmt.Sprintf("server says %d bytes, archive %d", m.size, e.Size))
		default:
			if reason, detail := c.checkCriteria(m, e); reason != "" {
				c.keep(fx, m, e, reason, detail)
				break
			}
			cands = append(cands, candidate{serverMsg: m, e: e, ours: mine})
		}
	}
	// Our own \Deleted flags on messages that are no longer candidates
	// (criteria changed, or now kept) come off again.
	var unflag []uint32
	passing := map[uint32]bool{}
	for _, cd := range cands {
		passing[cd.uid] = true
	}
	for uid := range ours {
		if !passing[uid] {
			unflag = append(unflag, uid)
		}
	}
	if err := c.unflag(fx, uv, unflag); err != nil {
		return err
	}
	if len(cands) > 0 {
		if refused, err := c.mayDelete(fx, uv, cands); refused || err != nil {
			return err
		}
	}
	if c.a.DryRun {
		cands, err = c.verify(fx, cands)
		if err != nil {
			return err // a failed or cancelled read is no verdict on the archive
		}
		for _, cd := range cands {
			fx.fr.Deleted++
			fx.fr.Bytes += cd.size
			fx.fr.Items = append(fx.fr.Items, c.item(cd))
		}
		return nil
	}
	return c.deleteAll(fx, uv, cands)
}

// slicesDeleteKept drops the kept items of an earlier pass.
func slicesDeleteKept(items []CleanupItem) []CleanupItem {
	out := items[:0]
	for _, it := range items {
		if it.Kept == "" {
			out = append(out, it)
		}
	}
	return out
}

func (c *cleaner) item(cd candidate) CleanupItem {
	it := CleanupItem{UID: cd.uid, Date: cd.date, Size: cd.size, Subject: cd.e.Header.Subject, Hash: cd.e.Hash}
	if c.a.ByDateHeader {
		if t, err := mail.ParseDate(cd.e.Header.Date); err == nil {
			it.Date = t
		}
	}
	return it
}

// criteria is the server-side selection: RFC 3501 6.4.4 BEFORE (by
// INTERNALDATE) or SENTBEFORE (by the Date: header), and LARGER.
func (c *cleaner) criteria() *imap.SearchCriteria {
	sc := &imap.SearchCriteria{}
	if !c.a.Before.IsZero() {
		if c.a.ByDateHeader {
			sc.SentBefore = c.a.Before
		} else {
			sc.Before = c.a.Before
		}
	}
	if c.a.LargerThan > 0 {
		sc.Larger = c.a.LargerThan
	}
	return sc
}

// checkCriteria checks the server's SEARCH answer against its own FETCH
// data and the archived header: a server that matches too much must not
// make mailkeep delete new mail.
func (c *cleaner) checkCriteria(m serverMsg, e *archive.Entry) (string, string) {
	if c.a.LargerThan > 0 && m.size <= c.a.LargerThan {
		return KeptCriteria, fmt.Sprintf("SEARCH LARGER matched but RFC822.SIZE is %d", m.size)
	}
	if c.a.Before.IsZero() {
		return "", ""
	}
	if c.a.ByDateHeader {
		t, err := mail.ParseDate(e.Header.Date)
		if err != nil {
			return KeptNoDateHeader, fmt.Sprintf("archived Date: %q: %v", e.Header.Date, err)
		}
		if !dayBefore(t, c.a.Before) {
			return KeptCriteria, fmt.Sprintf("SENTBEFORE matched but Date: is %s", t.Format(time.RFC3339))
		}
		return "", ""
	}
	if !m.date.IsZero() && !dayBefore(m.date, c.a.Before) {
		return KeptCriteria, fmt.Sprintf("SEARCH BEFORE matched but INTERNALDATE is %s", m.date.Format(time.RFC3339))
	}
	return "", ""
}

// dayBefore compares calendar days, each in its own zone, as SEARCH does
// (RFC 3501 6.4.4: "disregarding time and timezone").
func dayBefore(t, cutoff time.Time) bool {
	y, m, d := t.Date()
	cy, cm, cd := cutoff.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Before(time.Date(cy, cm, cd, 0, 0, 0, 0, time.UTC))
}

func hasFlagFold(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// fetchMeta reads FLAGS, RFC822.SIZE and INTERNALDATE of uids, in chunks
// that keep command lines short. UIDs expunged meanwhile are left out.
func (c *cleaner) fetchMeta(uids []imap.UID) ([]serverMsg, error) {
	var out []serverMsg
	for start := 0; start < len(uids); start += 2000 {
		chunk := uids[start:min(start+2000, len(uids))]
		fc := c.conn.Fetch(imap.UIDSetNum(chunk...), &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, InternalDate: true})
		err := imapconn.EachMessage(fc, func(buf *imapclient.FetchMessageBuffer) error {
			if buf.UID != 0 {
				out = append(out, serverMsg{uid: uint32(buf.UID), flags: imapconn.FlagStrings(buf.Flags), size: buf.RFC822Size, date: buf.InternalDate})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("uid fetch: %w", err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out, nil
}

// archived returns the archive's present entries of the folder at this
// UIDVALIDITY, for the given UIDs.
func (c *cleaner) archived(folder int64, uv uint32, uids []imap.UID) (map[uint32]*archive.Entry, error) {
	want := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		want[uint32(u)] = true
	}
	out := map[uint32]*archive.Entry{}
	for e, err := range c.repo.Messages(c.ctx, archive.Query{FolderID: folder}) {
		if err != nil {
			return nil, err
		}
		if e.UIDValidity == uv && e.UIDL == "" && want[e.UID] {
			out[e.UID] = e
		}
	}
	return out, nil
}

// verify re-reads the archived copy of every candidate now and checks its
// hash; a damaged copy keeps its message on the server, named.
func (c *cleaner) verify(fx *cleanFolder, cands []candidate) ([]candidate, error) {
	ok, damaged, err := c.verifyBatch(c.ctx, cands)
	for _, d := range damaged {
		c.keep(fx, d.cand.serverMsg, d.cand.e, KeptDamaged, d.detail)
	}
	return ok, err
}

type damagedCand struct {
	cand   candidate
	detail string
}

// verifyBatch checks the archived copies of cands (each distinct message
// once) and splits them into good and damaged. It touches no shared
// state, so it can run beside the deletion of the previous batch.
func (c *cleaner) verifyBatch(ctx context.Context, cands []candidate) ([]candidate, []damagedCand, error) {
	hashes := make([]archive.Hash, 0, len(cands))
	seen := map[archive.Hash]bool{}
	for _, cd := range cands {
		if !seen[cd.e.Hash] {
			seen[cd.e.Hash] = true
			hashes = append(hashes, cd.e.Hash)
		}
	}
	bad, err := c.repo.VerifyMessages(ctx, hashes)
	if err != nil {
		return nil, nil, err
	}
	var ok []candidate
	var damaged []damagedCand
	for _, cd := range cands {
		if err := bad[cd.e.Hash]; err != nil {
			damaged = append(damaged, damagedCand{cd, fmt.Sprintf("%v (see 'mailkeep verify')", err)})
			continue
		}
		ok = append(ok, cd)
	}
	return ok, damaged, nil
}
