package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// Cleanup deletes old (or large) mail from an IMAP server once the
// archive holds it. The loop for one account:
//
//	LIST; every --folder/--exclude pattern must match a folder
//	GETQUOTAROOT (QUOTA)
//	back the chosen folders up (backup.IMAP)
//	per folder {
//		SELECT; UIDVALIDITY must equal the archive's
//		intents of an interrupted run: complete or take \Deleted off again
//		UID SEARCH BEFORE|SENTBEFORE date [LARGER n]; UID FETCH FLAGS RFC822.SIZE INTERNALDATE
//		keep anything \Deleted by someone else, not archived at (folder,
//		UIDVALIDITY, UID), of another size, or whose archived copy does
//		not read back with its hash now
//		per batch: record intent, commit; UID STORE +FLAGS.SILENT (\Deleted);
//		UID EXPUNGE batch; check they are gone; mark them gone (cleanup)
//	}
//	GETQUOTAROOT again

// CleanupAccount is one IMAP account to clean up, and what to delete.
type CleanupAccount struct {
	Name string
	// Dial opens a logged-in connection; called again to reconnect.
	Dial func(ctx context.Context) (*imapconn.Conn, error)
	// Include is the account's own folder filter (what backup covers);
	// nil means all folders.
	Include func(name string, delim rune) bool
	// Folders chooses the folders to clean up. Every pattern in it must
	// match at least one folder on the server: a typo in an exclude
	// pattern must not turn into deleting from the folder it meant.
	Folders config.FolderFilter
	// Before: messages dated before this day (RFC 3501 SEARCH BEFORE
	// compares whole days). Zero means any date.
	Before time.Time
	// ByDateHeader compares Before with the Date: header (SENTBEFORE, and
	// the archived header must agree) instead of INTERNALDATE.
	ByDateHeader bool
	// LargerThan: only messages larger than this many bytes; 0 means any.
	LargerThan int64
	// GmailTrash moves messages to the \Trash folder and expunges them
	// there: on Gmail, deleting from a label only removes the label.
	GmailTrash bool
	// AllowExpunge permits a bare EXPUNGE on a server without UIDPLUS, but
	// only while no other message in the folder is \Deleted.
	AllowExpunge bool
	// DryRun deletes nothing: it reports what would go. The backup still
	// runs (it only adds to the archive), so the list is exact.
	DryRun bool
	// SkipBackup leaves out the backup at the start (the caller has just
	// made one). The checks per message do not depend on it.
	SkipBackup bool
	// BatchSize is how many messages one STORE + EXPUNGE takes; 0 means 1000 (fewer, larger
	// commands: the server syncs its index once per command).
	BatchSize int
	// Retries is how many reconnects a run may make; 0 means 3, a
	// negative number none.
	Retries int
	// Backoff is the first wait before a reconnect (doubling); 0 means 1s.
	Backoff time.Duration
	// Connections is how many folders are cleaned up at once, each over
	// its own connection (the server's work on one overlaps the checks of
	// another); 0 means 2.
	Connections int

	hooks *cleanupHooks // tests only
}

// cleanupHooks let tests act at the moments that matter for safety. They
// are called one at a time, whichever connection reaches them.
type cleanupHooks struct {
	mu          sync.Mutex
	afterBackup func()
	afterStore  func(folder string, uids []uint32)
}

// ErrNoMatch is wrapped by the error for a folder pattern that matches no
// folder on the server.
var ErrNoMatch = errors.New("matches no folder")

// Cleanup archives, verifies, then deletes the chosen mail of one IMAP
// account. It always returns a result; failures are in it.
func Cleanup(ctx context.Context, repo *archive.Repo, a *CleanupAccount, rep progress.Reporter) *CleanupResult {
	res := &CleanupResult{Account: a.Name, Started: time.Now(), DryRun: a.DryRun}
	defer func() { res.Finished = time.Now() }()
	c := &cleaner{ctx: ctx, repo: repo, a: a, rep: rep, res: res, batch: a.BatchSize}
	c.sess = c.newSession()
	if c.batch <= 0 {
		c.batch = 1000
	}
	progress.Send(rep, progress.Event{Kind: progress.AccountStart, Account: a.Name})
	if err := c.run(); err != nil {
		res.Fatal = err
		progress.Send(rep, progress.Event{Kind: progress.Failed, Account: a.Name, Err: err})
	}
	for i := range res.Folders {
		f := &res.Folders[i]
		res.Candidates += f.Candidates
		res.Deleted += f.Deleted
		res.Bytes += f.Bytes
		res.Kept += f.KeptTotal()
		res.Recovered += f.Recovered
	}
	progress.Send(rep, progress.Event{Kind: progress.AccountDone, Account: a.Name, Err: res.Err()})
	return res
}

type cleaner struct {
	ctx     context.Context
	repo    *archive.Repo
	a       *CleanupAccount
	rep     progress.Reporter
	res     *CleanupResult
	sess    *imapconn.Session
	conn    *imapconn.Conn // the session's current connection
	batch   int
	trash   string                     // the \Trash folder, for GmailTrash
	archive map[string]*archive.Folder // archived folders by name
	ns      *namespace.Set             // the server's namespaces
}

func (c *cleaner) run() error {
	a := c.a
	if a.Before.IsZero() && a.LargerThan <= 0 {
		return errors.New("cleanup needs a date (older than, before) or a size (larger than): it never deletes everything")
	}
	if a.Before.After(time.Now()) {
		return fmt.Errorf("cleanup before %s: that date is in the future, so every message would match", a.Before.Format("2006-01-02"))
	}
	if a.ByDateHeader && a.Before.IsZero() {
		return errors.New("by date-header needs a date (older than or before)")
	}
	defer c.sess.Close()
	if err := c.connect(); err != nil {
		return err
	}
	caps := c.conn.Caps()
	c.res.Gmail = caps.Has("X-GM-EXT-1")
	if a.GmailTrash && !c.res.Gmail {
		return errors.New("gmail-trash: the server is not Gmail (it does not offer X-GM-EXT-1); leave the option out")
	}
	if c.res.Gmail && !a.GmailTrash {
		c.warn("", "Gmail: deleting from a label only removes that label; the messages stay in All Mail and keep using quota (see --gmail-trash)")
	}

	lb := &imapBackup{ctx: c.ctx, a: &IMAPAccount{Name: a.Name, Dial: a.Dial}, rep: c.rep, res: &Result{}, sess: c.sess, conn: c.conn}
	boxes, err := lb.list()
	c.conn = lb.conn
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}
	if lb.res.Incomplete != "" {
		c.res.Errors = append(c.res.Errors, fmt.Errorf("%s: %s", a.Name, lb.res.Incomplete))
	}
	// Only the account's own folders, whatever its namespaces key says.
	boxes, _, err = lb.scope(boxes)
	if err != nil {
		return fmt.Errorf("namespaces: %w", err)
	}
	c.ns = lb.ns
	chosen, err := c.choose(boxes)
	if err != nil {
		return err
	}
	c.res.QuotaBefore = c.quota()
	// From here on the backup and the folder workers use connections of
	// their own; this one would only idle (and might time out).
	c.sess.Drop()
	c.conn = nil

	if !a.SkipBackup {
		names := map[string]bool{}
		for _, mb := range chosen {
			names[mb.canon] = true // backup.IMAP asks Include with canonical names
		}
		c.res.Backup = IMAP(c.ctx, c.repo, &IMAPAccount{Name: a.Name, Dial: a.Dial, Retries: a.Retries, Backoff: a.Backoff,
			Include: func(name string, _ rune) bool { return names[name] }}, c.rep)
		if c.res.Backup.Fatal != nil {
			return fmt.Errorf("backup before cleanup failed, nothing deleted: %w", c.res.Backup.Fatal)
		}
	}
	if h := a.hooks; h != nil && h.afterBackup != nil {
		h.mu.Lock()
		h.afterBackup()
		h.mu.Unlock()
	}
	if err := c.loadArchive(); err != nil {
		return err
	}
	if err := c.folders(chosen); err != nil {
		return err
	}
	if !a.DryRun && len(c.res.QuotaBefore) > 0 {
		if err := c.connect(); err != nil {
			c.warn("", fmt.Sprintf("quota after the cleanup: %v", err))
		} else {
			c.res.QuotaAfter = c.quota()
		}
	}
	return c.repo.Commit(c.ctx)
}

// folders cleans the chosen folders up, several at once, each worker over
// its own connection: the server's work on one folder (STORE, EXPUNGE)
// overlaps the archive checks of another. Results keep the LIST order.
func (c *cleaner) folders(chosen []mailbox) error {
	workers := c.a.Connections
	if workers <= 0 {
		workers = 2
	}
	workers = max(1, min(workers, len(chosen)))
	results := make([]*CleanupFolder, len(chosen))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wc := &cleaner{ctx: c.ctx, repo: c.repo, a: c.a, rep: c.rep, res: c.res, batch: c.batch, trash: c.trash, archive: c.archive, ns: c.ns}
		wc.sess = wc.newSession()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer wc.sess.Close()
			for i := range next {
				fr := wc.safeFolder(chosen[i])
				results[i] = &fr
				if fr.Err != nil {
					progress.Send(c.rep, progress.Event{Kind: progress.Failed, Account: c.a.Name, Folder: fr.Name, Err: fr.Err})
				}
			}
		}()
	}
feed:
	for i := range chosen {
		select {
		case next <- i:
		case <-c.ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, fr := range results {
		if fr == nil {
			continue // not started: interrupted
		}
		c.res.Folders = append(c.res.Folders, *fr)
		if fr.Err != nil {
			c.res.Errors = append(c.res.Errors, fr.Err)
		}
	}
	return c.ctx.Err()
}

// choose applies the account's and the cleanup's folder filters to the
// folders on the server, and checks every cleanup pattern matches one.
func (c *cleaner) choose(boxes []mailbox) ([]mailbox, error) {
	f := c.a.Folders
	names := make([]string, 0, len(boxes))
	var delim rune
	for _, mb := range boxes {
		names = append(names, mb.canon)
		if delim == 0 {
			delim = mb.delim
		}
	}
	if unmatched := f.Unmatched(names, delim); len(unmatched) > 0 {
		sort.Strings(names)
		return nil, fmt.Errorf("%s %w on the server (folders: %s)", strings.Join(unmatched, ", "), ErrNoMatch,
			strings.Join(names, ", "))
	}
	var out []mailbox
	for _, mb := range boxes {
		if mb.specialUse == string(imap.MailboxAttrTrash) && c.trash == "" {
			c.trash = mb.name
		}
		if !f.Match(mb.canon, mb.delim) {
			continue
		}
		if c.a.Include != nil && !c.a.Include(mb.canon, mb.delim) {
			if len(f.Include) > 0 {
				c.warn(mb.name, "left alone: the account's folders filter excludes it, so it is never archived")
			}
			continue
		}
		out = append(out, mb)
	}
	if c.a.GmailTrash && c.trash == "" {
		return nil, errors.New("gmail-trash: the server lists no folder with the \\Trash attribute")
	}
	return out, nil
}

func (c *cleaner) loadArchive() error {
	c.archive = map[string]*archive.Folder{}
	acct, err := c.repo.LookupAccount(c.ctx, c.a.Name)
	if errors.Is(err, archive.ErrNotFound) {
		return nil // nothing archived: every candidate is kept
	}
	if err != nil {
		return err
	}
	fs, err := c.repo.Folders(c.ctx, acct)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.GoneSince.IsZero() {
			c.archive[f.Name] = f
		}
	}
	return nil
}

// quota asks for the quota of INBOX's root(s), where the server has QUOTA.
// A failure is a warning: it changes nothing about what is deleted.
func (c *cleaner) quota() []Quota {
	if c.conn == nil {
		return nil
	}
	if !c.conn.Caps().Has(imap.CapQuota) {
		c.res.QuotaNote = "the server does not report one (no QUOTA capability)"
		return nil
	}
	data, err := c.conn.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		c.res.QuotaNote = fmt.Sprintf("the server did not report one (GETQUOTAROOT INBOX: %v)", err)
		c.warn("", fmt.Sprintf("GETQUOTAROOT INBOX: %v", err))
		return nil
	}
	if len(data) == 0 {
		// RFC 9208 4.3.2: a mailbox may have no quota root at all.
		c.res.QuotaNote = "none set for this user (the server offers QUOTA, but INBOX has no quota root)"
	}
	var out []Quota
	for _, d := range data {
		for res, v := range d.Resources {
			out = append(out, Quota{Root: d.Root, Resource: string(res), Usage: v.Usage, Limit: v.Limit})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Root != out[j].Root {
			return out[i].Root < out[j].Root
		}
		return out[i].Resource < out[j].Resource
	})
	return out
}

func (c *cleaner) warn(folder, text string) {
	progress.Send(c.rep, progress.Event{Kind: progress.Warning, Account: c.a.Name, Folder: folder, Text: text})
}

// newSession is a connection of its own with the account's retry policy:
// Retries 0 means 3, a negative number none.
func (c *cleaner) newSession() *imapconn.Session {
	limit := c.a.Retries
	if limit == 0 {
		limit = 3
	}
	return newSession(c.a.Name, c.a.Dial, limit, c.a.Backoff, c.rep)
}

// connect opens a fresh connection.
func (c *cleaner) connect() error {
	c.sess.Drop()
	c.conn = nil
	conn, err := c.sess.Conn(c.ctx)
	if err != nil {
		return err
	}
	c.conn = conn
	return nil
}

// retry runs fn on a live connection, reconnecting and running it again
// after a transient failure. fn must be safe to run again: each folder
// pass starts by sorting out what an earlier, interrupted pass left
// behind. An archive that fails to write stops it at once.
func (c *cleaner) retry(what string, fn func() error) error {
	return c.sess.Do(c.ctx, what, func(conn *imapconn.Conn) error {
		c.conn = conn
		return fn()
	})
}

func (c *cleaner) repoFailed(err error) bool { return archiveFailed(err) }

// safeFolder cleans one folder up; a panic is that folder's error. Its
// deletions are recorded as intents first, so the next run finishes or
// undoes whatever was under way.
func (c *cleaner) safeFolder(mb mailbox) (fr CleanupFolder) {
	defer func() {
		if v := recover(); v != nil {
			c.sess.Drop()
			c.conn = nil
			fr = CleanupFolder{Name: mb.name, Err: fmt.Errorf("%s/%s: internal error: %v", c.a.Name, mb.name, v)}
		}
	}()
	return c.folder(mb)
}
