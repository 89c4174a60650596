package backup

// The main loop for one POP3 maildrop (folder "INBOX" in the archive):
//
//	for each session (a reconnect after a dropped line starts a new one) {
//		dial + log in                     // IN-USE, timeouts: retry with backoff
//		LIST + UIDL                       // no UIDL: identity by content
//		UIDLs the archive lacks -> RETR, pipelined, each message streamed
//		                           into the ordered ingest pipeline;
//		                           commit every few hundred messages
//		UIDLs no longer listed  -> marked gone (the archive keeps them)
//		deletion policy due      -> commit, read back and check each copy,
//		                           then DELE
//		QUIT +OK                 -> only now are deletions recorded
//	}

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/pop3"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// POP3Folder is the archive folder a POP3 maildrop is kept in.
const POP3Folder = "INBOX"

// POP3Account is one POP3 maildrop to back up.
type POP3Account struct {
	Name string
	// Dial opens a logged-in connection. Called again to reconnect
	// after a transient failure.
	Dial func(ctx context.Context) (*pop3.Client, error)
	// Delete deletes every message from the server once its archived
	// copy is committed and read back ("post office" mode).
	Delete bool
	// DeleteBefore, if set, deletes messages first archived at or before
	// DeleteBefore(now) (config's delete_after: Age.Before). Ignored
	// when Delete is set.
	DeleteBefore func(now time.Time) time.Time
	// DryRun reports what would be retrieved and deleted; it writes
	// nothing and deletes nothing.
	DryRun bool
	// Retries is how many reconnects a run may make; 0 means 5.
	Retries int
	// Backoff is the first wait before a reconnect (doubling); 0 means 1s.
	Backoff time.Duration
	// CommitEvery is the checkpoint interval in messages; 0 means 500.
	CommitEvery int
	// Now is the clock of the deletion policy; nil means time.Now.
	Now func() time.Time
}

// place is what the archive holds for one POP3 identity (a UIDL, or a
// content key when UIDLs cannot be trusted).
type place struct {
	hash  archive.Hash
	size  int64
	first time.Time
	gone  bool
}

type pop3Backup struct {
	ctx  context.Context
	repo *archive.Repo
	a    *POP3Account
	rep  progress.Reporter
	res  *Result
	fr   FolderResult

	folder  *archive.Folder // nil in a dry run without an archive
	c       *pop3.Client
	retries int
	started bool // FolderStart sent

	warnedNoUIDL, warnedDup bool
	sizeWarnings            int
	dryRunText              string

	mu       sync.Mutex
	places   map[string]*place // by key: see keyFor
	failed   map[string]bool   // RETR refused this run, by UIDL (or "#num" without UIDL)
	verified map[archive.Hash]error
	sinceCkp int
	lastCkp  time.Time
	// This session's retrievals: message number -> the key its bytes
	// were recorded under, and the numbers the server refused.
	got        map[int]string
	sessFailed map[int]bool
}

// POP3 backs one POP3 maildrop up into repo. It always returns a Result;
// failures are in it.
func POP3(ctx context.Context, repo *archive.Repo, a *POP3Account, rep progress.Reporter) *Result {
	res := &Result{Account: a.Name, Started: time.Now(), DryRun: a.DryRun}
	defer func() { res.Finished = time.Now() }()
	progress.Send(rep, progress.Event{Kind: progress.AccountStart, Account: a.Name})
	b := &pop3Backup{ctx: ctx, repo: repo, a: a, rep: rep, res: res, fr: FolderResult{Name: POP3Folder},
		places: map[string]*place{}, failed: map[string]bool{}, verified: map[archive.Hash]error{}, lastCkp: time.Now()}
	err := b.run()
	if b.c != nil {
		b.c.Close() // without QUIT: the server forgets any DELE
	}
	if err != nil {
		res.Fatal = err
		b.fr.Err = err
		progress.Send(rep, progress.Event{Kind: progress.Failed, Account: a.Name, Err: err})
	}
	res.Folders = append(res.Folders, b.fr)
	if b.folder != nil || a.DryRun {
		ev := progress.Event{Kind: progress.FolderDone, Account: a.Name, Folder: POP3Folder, Err: err}
		if a.DryRun {
			ev.Text = b.dryRunText
		}
		progress.Send(rep, ev)
	}
	progress.Send(rep, progress.Event{Kind: progress.AccountDone, Account: a.Name, Err: res.Err()})
	return res
}

func (b *pop3Backup) now() time.Time {
	if b.a.Now != nil {
		return b.a.Now()
	}
	return time.Now()
}

// archiveError marks a failure of the archive (disk, index): never
// retried, and it ends the run.
type archiveError struct{ err error }

func (e *archiveError) Error() string { return e.err.Error() }
func (e *archiveError) Unwrap() error { return e.err }

func archiveErr(err error) error {
	if err == nil {
		return nil
	}
	var ae *archiveError
	if errors.As(err, &ae) {
		return err
	}
	return &archiveError{err}
}

func (b *pop3Backup) run() error {
	if err := b.openFolder(); err != nil {
		return err
	}
	backoff := b.a.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	limit := b.a.Retries
	if limit <= 0 {
		limit = 5
	}
	for {
		err := b.session()
		if err == nil {
			return nil
		}
		if b.ctx.Err() != nil {
			return b.ctx.Err()
		}
		var ae *archiveError
		if errors.As(err, &ae) || !pop3.Temporary(err) {
			return err
		}
		if b.retries >= limit {
			return fmt.Errorf("giving up after %d reconnects: %w", b.retries, err)
		}
		b.retries++
		progress.Send(b.rep, progress.Event{Kind: progress.Retry, Account: b.a.Name, Err: err,
			Text: fmt.Sprintf("reconnecting in %s (attempt %d of %d)", backoff, b.retries, limit)})
		select {
		case <-time.After(backoff):
		case <-b.ctx.Done():
			return b.ctx.Err()
		}
		backoff *= 2
	}
}

// openFolder finds (or, unless dry-running, creates) the account's INBOX
// in the archive and loads every place it holds.
func (b *pop3Backup) openFolder() error {
	if b.repo == nil {
		return nil
	}
	if b.a.DryRun {
		acct, err := b.repo.LookupAccount(b.ctx, b.a.Name)
		if err != nil || acct == nil {
			return nil // nothing archived yet
		}
		folders, err := b.repo.Folders(b.ctx, acct)
		if err != nil {
			return err
		}
		for _, f := range folders {
			if f.Name == POP3Folder {
				b.folder = f
			}
		}
		if b.folder == nil {
			return nil
		}
	} else {
		acct, err := b.repo.Account(b.ctx, b.a.Name, "pop3")
		if err != nil {
			return archiveErr(err)
		}
		if acct.Protocol != "pop3" {
			return fmt.Errorf("the archive holds %q as a %s account; a POP3 account needs a name of its own", b.a.Name, acct.Protocol)
		}
		if b.folder, err = b.repo.Folder(b.ctx, acct, POP3Folder); err != nil {
			return archiveErr(err)
		}
	}
	known, err := b.repo.POP3Places(b.ctx, b.folder.ID, false)
	if err != nil {
		return archiveErr(err)
	}
	for _, k := range known {
		b.places[k.Key] = &place{hash: k.Hash, size: k.Size, first: k.FirstSeen, gone: !k.GoneSince.IsZero()}
	}
	return nil
}

// connect dials a fresh session.
func (b *pop3Backup) connect() error {
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
	c, err := b.a.Dial(b.ctx)
	if err != nil {
		return err
	}
	b.c = c
	return nil
}

// session is one POP3 session: list, retrieve what is new, delete what
// is due, QUIT. Any error leaves the server as it was (no QUIT, so no
// DELE takes effect) and the archive consistent.
func (b *pop3Backup) session() error {
	if err := b.connect(); err != nil {
		return err
	}
	l, err := b.listing()
	if err != nil {
		return err
	}
	if b.a.DryRun {
		b.dryRun(l)
		return b.quiet()
	}
	if err := b.markGone(l); err != nil {
		return err
	}
	if err := b.retrieve(b.plan(l)); err != nil {
		return err
	}
	if err := b.settleContent(l); err != nil {
		return err
	}
	dels := b.deletions(l)
	if len(dels) == 0 {
		return b.quiet()
	}
	return b.deleteAndQuit(dels)
}

// quiet ends a session in which nothing was marked for deletion. A QUIT
// the server does not confirm changes nothing then, so it is no error.
func (b *pop3Backup) quiet() error {
	err := b.c.Quit(b.ctx)
	b.c = nil
	if err != nil && b.ctx.Err() == nil {
		progress.Send(b.rep, progress.Event{Kind: progress.Info, Account: b.a.Name, Folder: POP3Folder,
			Text: fmt.Sprintf("QUIT not confirmed (nothing was to be deleted): %v", err)})
	}
	return nil
}

// msgErr names a message the way every per-message error does.
func (b *pop3Backup) msgErr(e *entry, err error) error {
	if e.uidl == "" {
		return fmt.Errorf("%s/%s msg %d: %w", b.a.Name, POP3Folder, e.num, err)
	}
	return fmt.Errorf("%s/%s msg %d uidl %s: %w", b.a.Name, POP3Folder, e.num, e.uidl, err)
}

// fail records a message that could not be backed up or deleted; the
// run goes on with the others.
func (b *pop3Backup) fail(e *entry, err error) {
	err = b.msgErr(e, err)
	b.mu.Lock()
	b.res.Errors = append(b.res.Errors, err)
	b.mu.Unlock()
	progress.Send(b.rep, progress.Event{Kind: progress.Failed, Account: b.a.Name, Folder: POP3Folder, UIDL: e.uidl, Err: err})
}

func (b *pop3Backup) warn(e *entry, text string) {
	ev := progress.Event{Kind: progress.Warning, Account: b.a.Name, Folder: POP3Folder, Text: text}
	if e != nil {
		ev.UIDL = e.uidl
		ev.Text = fmt.Sprintf("msg %d: %s", e.num, text)
	}
	progress.Send(b.rep, ev)
}
