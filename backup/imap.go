package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/progress"
	"github.com/mailkeep/mailkeep/internal/ratelimit"
)

// IMAPAccount is one IMAP account to back up.
type IMAPAccount struct {
	Name string
	// Dial opens a logged-in connection (cmd/mailkeep builds it from the
	// config). Called again to reconnect after a transient failure.
	Dial func(ctx context.Context) (*imapconn.Conn, error)
	// Include chooses folders by canonical name (namespace.Canonical) and
	// the server's delimiter; nil means all.
	Include func(name string, delim rune) bool
	// Filter, if set, is the folder filter behind Include: a pattern of it
	// that matches no folder is warned about.
	Filter *config.FolderFilter
	// Namespaces are the namespaces backed up; nil: the personal one only
	// (other users' and public folders are not the account's mail).
	Namespaces namespace.Wanted
	// Retries is how many reconnects a run may make; 0 means 5.
	Retries int
	// Backoff is the first wait before a reconnect (doubling); 0 means 1s.
	Backoff time.Duration
	// DryRun counts what would be fetched and writes nothing.
	DryRun bool
	// CommitEvery is the checkpoint interval in messages; 0 means
	// commitEvery (imapfetch.go).
	CommitEvery int
	// Budget, if set, is the day's download allowance (max_bytes_per_day):
	// when it is spent the backup stops cleanly after the current message.
	Budget *ratelimit.Budget
}

// mailbox is one LIST entry.
type mailbox struct {
	name       string
	delim      rune
	specialUse string
	attrs      []string
	subscribed bool
	status     *imap.StatusData // nil without LIST-STATUS
	canon      string           // canonical name (namespace.Canonical)
	space      namespace.Kind   // namespace it is in
}

// IMAP backs one IMAP account up into repo. It always returns a Result;
// failures are in it.
func IMAP(ctx context.Context, repo *archive.Repo, a *IMAPAccount, rep progress.Reporter) *Result {
	res := &Result{Account: a.Name, Started: time.Now(), DryRun: a.DryRun}
	defer func() { res.Finished = time.Now() }()
	progress.Send(rep, progress.Event{Kind: progress.AccountStart, Account: a.Name})
	retries := a.Retries
	if retries <= 0 {
		retries = 5
	}
	b := &imapBackup{ctx: ctx, repo: repo, a: a, rep: rep, res: res, sess: newSession(a.Name, a.Dial, retries, a.Backoff, rep)}
	if err := b.run(); err != nil {
		res.Fatal = err
		progress.Send(rep, progress.Event{Kind: progress.Failed, Account: a.Name, Err: err})
	}
	progress.Send(rep, progress.Event{Kind: progress.AccountDone, Account: a.Name, Err: res.Err()})
	return res
}

type imapBackup struct {
	ctx       context.Context
	repo      *archive.Repo
	a         *IMAPAccount
	rep       progress.Reporter
	res       *Result
	acct      *archive.Account
	sess      *imapconn.Session
	conn      *imapconn.Conn // the session's current connection
	condstore bool
	ns        *namespace.Set  // the server's namespaces, learnt once
	started   map[string]bool // folders whose FolderStart was sent
}

func (b *imapBackup) run() error {
	defer b.sess.Close()
	if err := b.connect(); err != nil {
		return err
	}
	if !b.a.DryRun {
		var err error
		if b.acct, err = b.repo.Account(b.ctx, b.a.Name, "imap"); err != nil {
			return err
		}
	} else if b.repo != nil {
		if acct, err := b.repo.LookupAccount(b.ctx, b.a.Name); err == nil {
			b.acct = acct
		}
	}
	var boxes []mailbox
	err := b.retry("list folders", func() error {
		var err error
		boxes, err = b.list()
		return err
	})
	if err != nil {
		return err
	}
	boxes, others, err := b.scope(boxes)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, mb := range others {
		seen[mb.name] = true // still on the server: not gone
	}
	for _, mb := range boxes {
		if b.ctx.Err() != nil {
			return b.ctx.Err()
		}
		if b.res.Budget != "" {
			break // the day's allowance is spent; the rest waits for the next run
		}
		seen[mb.name] = true
		if b.a.Include != nil && !b.a.Include(mb.canon, mb.delim) {
			continue
		}
		fr := b.safeFolder(mb)
		b.res.Folders = append(b.res.Folders, fr)
		if fr.Err != nil {
			b.res.Errors = append(b.res.Errors, fr.Err)
			progress.Send(b.rep, progress.Event{Kind: progress.Failed, Account: b.a.Name, Folder: mb.name, Err: fr.Err})
			if errors.Is(fr.Err, context.Canceled) || b.repoFailed(fr.Err) {
				return fr.Err
			}
		}
	}
	if b.a.DryRun || b.acct == nil {
		return nil
	}
	// Folders the server no longer lists are marked gone, but only when
	// the list is known to be complete: a LIST that died part-way must
	// not make the rest of the account look deleted.
	if b.res.Incomplete == "" && b.res.Budget == "" {
		known, err := b.repo.Folders(b.ctx, b.acct)
		if err != nil {
			return err
		}
		now := time.Now()
		for _, f := range known {
			if seen[f.Name] || !f.GoneSince.IsZero() {
				continue
			}
			if err := b.repo.MarkFolderGone(b.ctx, f, archive.GoneFolder, 0, now); err != nil {
				return err
			}
			progress.Send(b.rep, progress.Event{Kind: progress.Info, Account: b.a.Name, Folder: f.Name, Text: "folder no longer on the server; marked gone"})
		}
	}
	return b.repo.Commit(b.ctx)
}

func (b *imapBackup) repoFailed(err error) bool { return archiveFailed(err) }

// safeFolder backs one folder up; a panic (a bug, or a library meeting a
// server it did not expect) is that folder's error, never the process's:
// the archive is crash-safe, and the other folders and accounts go on.
func (b *imapBackup) safeFolder(mb mailbox) (fr FolderResult) {
	defer func() {
		if v := recover(); v != nil {
			b.sess.Drop()
			b.conn = nil
			fr = FolderResult{Name: mb.name, Err: fmt.Errorf("%s/%s: internal error: %v", b.a.Name, mb.name, v)}
		}
	}()
	return b.folder(mb)
}

// folderStarted reports whether the folder's start was already announced
// (a reconnect runs the folder again: its line must count every message
// of the run, not the last connection's).
func (b *imapBackup) folderStarted(name string) bool {
	if b.started == nil {
		b.started = map[string]bool{}
	}
	was := b.started[name]
	b.started[name] = true
	return was
}

// connect opens a fresh connection.
func (b *imapBackup) connect() error {
	b.sess.Drop()
	c, err := b.sess.Conn(b.ctx)
	if err != nil {
		return err
	}
	b.use(c)
	return nil
}

func (b *imapBackup) use(c *imapconn.Conn) {
	if c != b.conn {
		b.conn = c
		b.condstore = c.Caps().Has(imap.CapCondStore)
	}
}

// retry runs fn on a live connection, reconnecting and running it again
// after a transient failure, within the account's retry budget.
func (b *imapBackup) retry(what string, fn func() error) error {
	for {
		err := b.sess.Do(b.ctx, what, func(c *imapconn.Conn) error {
			b.use(c)
			return fn()
		})
		if !errors.Is(err, errSkipped) {
			return err
		}
		b.sess.Drop() // one message fewer: go on over a new connection
	}
}

// list runs LIST "" "*", with special-use, subscription and status data
// where the server offers them in one round trip.
func (b *imapBackup) list() ([]mailbox, error) {
	caps := b.conn.Caps()
	opts := &imap.ListOptions{}
	if caps.Has(imap.CapSpecialUse) {
		opts.ReturnSpecialUse = true
	}
	if caps.Has(imap.CapListExtended) {
		opts.ReturnSubscribed = true
	}
	if caps.Has(imap.CapListStatus) {
		opts.ReturnStatus = &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true,
			HighestModSeq: b.condstore}
	}
	lc := b.conn.List("", "*", opts)
	var out []mailbox
	for {
		d := lc.Next()
		if d == nil {
			break
		}
		mb := mailbox{name: d.Mailbox, delim: d.Delim, status: d.Status}
		skip := false
		for _, at := range d.Attrs {
			switch at {
			case imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent:
				skip = true
			case imap.MailboxAttrSubscribed:
				mb.subscribed = true
			}
			if su := imapconn.SpecialUseOf(at); su != "" {
				mb.specialUse = string(su)
			}
			mb.attrs = append(mb.attrs, string(at))
		}
		if !skip {
			out = append(out, mb)
		}
	}
	if err := lc.Close(); err != nil {
		if len(out) == 0 {
			return nil, err
		}
		// go-imap stops at the first mailbox name it cannot decode, and may
		// drop the connection with it: keep what was listed, say the list
		// is incomplete, and carry on with a fresh connection.
		b.res.Incomplete = fmt.Sprintf("LIST failed after %d folders (%v); unlisted folders were not backed up and are not marked gone", len(out), err)
		progress.Send(b.rep, progress.Event{Kind: progress.Warning, Account: b.a.Name, Text: b.res.Incomplete})
		if b.conn.Broken() {
			if err := b.connect(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
