package backup

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// deletion is a message the policy wants off the server, and the archive
// place that holds its copy.
type deletion struct {
	e   *entry
	key string
}

// deletions picks the messages of this session that the policy wants
// deleted and whose archived copy is safe: committed (the caller has
// just committed), read back and hashed again (VerifyMessage), and
// known to be this message: retrieved in this session, or named by a
// UIDL whose archived copy has the size LIST reports.
func (b *pop3Backup) deletions(l *listing) []deletion {
	if !b.deleting() {
		return nil
	}
	// What the index holds once committed, read on the reader connection:
	// the writer transaction is shared by every account of the process,
	// so "our Commit returned" alone does not prove our rows are in.
	committed, err := b.committedPlaces()
	if err != nil {
		b.res.Errors = append(b.res.Errors, fmt.Errorf("%s/%s: nothing deleted: %w", b.a.Name, POP3Folder, err))
		return nil
	}
	var out []deletion
	for _, e := range l.entries {
		if b.ctx.Err() != nil {
			return nil
		}
		b.mu.Lock()
		key, ok := b.got[e.num]
		if b.sessFailed[e.num] {
			b.mu.Unlock()
			continue
		}
		if !ok {
			p := b.places[e.uidl]
			if e.uidl == "" || e.dup || p == nil || p.gone || p.size != e.size {
				b.mu.Unlock()
				continue
			}
			key = e.uidl
		}
		p := b.places[key]
		b.mu.Unlock()
		if p == nil || !b.due(p.first) {
			continue
		}
		if c, ok := committed[key]; !ok || c != p.hash {
			b.fail(e, fmt.Errorf("not deleted from the server: its archive entry %q is not committed", key))
			continue
		}
		if err := b.verify(p.hash); err != nil {
			b.fail(e, fmt.Errorf("not deleted from the server: the archived copy failed its check: %w", err))
			continue
		}
		out = append(out, deletion{e: e, key: key})
	}
	return out
}

// committedPlaces returns key -> hash of the places of the folder that
// the committed index holds as present.
func (b *pop3Backup) committedPlaces() (map[string]archive.Hash, error) {
	known, err := b.repo.POP3Places(b.ctx, b.folder.ID, true)
	if err != nil {
		return nil, err
	}
	out := make(map[string]archive.Hash, len(known))
	for _, k := range known {
		out[k.Key] = k.Hash
	}
	return out, nil
}

// verify reads an archived message back and checks its hash, once per
// run.
func (b *pop3Backup) verify(h archive.Hash) error {
	if err, ok := b.verified[h]; ok {
		return err
	}
	err := b.repo.VerifyMessage(b.ctx, h)
	b.verified[h] = err
	return err
}

// deleteAndQuit marks the messages deleted and ends the session. The
// server removes them only when it answers QUIT with +OK; only then are
// they recorded as deleted.
func (b *pop3Backup) deleteAndQuit(dels []deletion) error {
	nums := make([]int, len(dels))
	for i, d := range dels {
		nums[i] = d.e.num
	}
	refused := map[int]bool{}
	if err := b.c.DeleMany(b.ctx, nums); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, one := range errs {
			var pe *pop3.Error
			if !errors.As(one, &pe) {
				return err // the connection failed: nothing is deleted
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(pe.Cmd, "DELE "))
			refused[n] = true
			for _, d := range dels {
				if d.e.num == n {
					b.fail(d.e, fmt.Errorf("server refused to delete it: %w", pe))
				}
			}
		}
	}
	var done []deletion
	for _, d := range dels {
		if !refused[d.e.num] {
			done = append(done, d)
		}
	}
	qerr := b.c.Quit(b.ctx)
	b.c = nil
	if qerr != nil {
		if b.ctx.Err() != nil {
			return b.ctx.Err()
		}
		err := fmt.Errorf("%s/%s: QUIT not confirmed, so none of the %d messages marked for deletion was deleted; they stay on the server, already archived, and the next run deletes them: %w",
			b.a.Name, POP3Folder, len(done), qerr)
		b.res.Errors = append(b.res.Errors, err)
		progress.Send(b.rep, progress.Event{Kind: progress.Failed, Account: b.a.Name, Folder: POP3Folder, Err: err})
		return nil
	}
	if len(done) == 0 {
		return nil
	}
	keys := make([]string, 0, len(done))
	seen := map[string]bool{}
	for _, d := range done {
		if !seen[d.key] {
			seen[d.key] = true
			keys = append(keys, d.key)
		}
	}
	if err := b.repo.MarkGone(b.ctx, b.folder.ID, 0, nil, keys, archive.GonePOP3Deleted, b.now()); err != nil {
		return archiveErr(err)
	}
	b.mu.Lock()
	for _, k := range keys {
		if p := b.places[k]; p != nil {
			p.gone = true
		}
	}
	b.mu.Unlock()
	b.res.Deleted += int64(len(done))
	progress.Send(b.rep, progress.Event{Kind: progress.Info, Account: b.a.Name, Folder: POP3Folder,
		Text: fmt.Sprintf("deleted %d messages from the server (each archived, committed and read back first)", len(done))})
	return b.checkpoint()
}

// dryRun reports what a real run would retrieve and delete.
func (b *pop3Backup) dryRun(l *listing) {
	plan := b.plan(l)
	var bytes int64
	fetch := map[int]bool{}
	for _, e := range plan {
		fetch[e.num] = true
		bytes += e.size
		progress.Send(b.rep, progress.Event{Kind: progress.Info, Account: b.a.Name, Folder: POP3Folder, UIDL: e.uidl,
			Text: fmt.Sprintf("would retrieve msg %d (%d bytes)", e.num, e.size)})
	}
	dels := 0
	if b.deleting() {
		for _, e := range l.entries {
			b.mu.Lock()
			p := b.places[e.uidl]
			b.mu.Unlock()
			switch {
			case fetch[e.num] && b.due(b.now()):
				// archived by this run, and due at once
			case !fetch[e.num] && e.uidl != "" && !e.dup && p != nil && !p.gone && b.due(p.first):
			default:
				continue
			}
			dels++
			progress.Send(b.rep, progress.Event{Kind: progress.Info, Account: b.a.Name, Folder: POP3Folder, UIDL: e.uidl,
				Text: fmt.Sprintf("would delete msg %d once archived and checked", e.num)})
		}
	}
	b.fr.New, b.fr.Bytes = int64(len(plan)), bytes
	b.res.New, b.res.Bytes = int64(len(plan)), bytes
	b.dryRunText = fmt.Sprintf("would fetch %d messages, %d bytes; would delete %d from the server", len(plan), bytes, dels)
	if !b.deleting() {
		b.dryRunText = fmt.Sprintf("would fetch %d messages, %d bytes; deletes nothing (no delete policy)", len(plan), bytes)
	}
}
