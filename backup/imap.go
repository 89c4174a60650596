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
	// CommitEvery is the checkpoint interval in messages; 0 means 500.
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
	b := &imapBackup{ctx: ctx, repo: repo, a: a, rep: rep, res: res}
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
	conn      *imapconn.Conn
	retries   int
	condstore bool
	ns        *namespace.Set // the server's namespaces, learnt once
}

func (b *imapBackup) run() error {
	defer func() {
		if b.conn != nil {
			b.conn.Close()
		}
	}()
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
		fr := b.folder(mb)
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

func (b *imapBackup) repoFailed(err error) bool {
	var we *archive.WriteError
	return errors.As(err, &we)
}

func (b *imapBackup) connect() error {
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
	c, err := b.a.Dial(b.ctx)
	if err != nil {
		return err
	}
	b.conn = c
	b.condstore = c.Caps().Has(imap.CapCondStore)
	return nil
}

// retry runs fn, reconnecting and running it again after a transient
// failure, within the account's retry budget.
func (b *imapBackup) retry(what string, fn func() error) error {
	backoff := b.a.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	max := b.a.Retries
	if max <= 0 {
		max = 5
	}
	for {
		err := fn()
		if err == nil || b.ctx.Err() != nil {
			if b.ctx.Err() != nil && err != nil {
				return b.ctx.Err()
			}
			return err
		}
		broken := b.conn == nil || b.conn.Broken()
		if (!broken && !imapconn.Transient(err)) || b.repoFailed(err) {
			return err
		}
		if b.retries >= max {
			return fmt.Errorf("%s: giving up after %d reconnects: %w", what, b.retries, err)
		}
		b.retries++
		progress.Send(b.rep, progress.Event{Kind: progress.Retry, Account: b.a.Name, Err: err,
			Text: fmt.Sprintf("%s: reconnecting in %s (attempt %d of %d)", what, backoff, b.retries, max)})
		select {
		case <-time.After(backoff):
		case <-b.ctx.Done():
			return b.ctx.Err()
		}
		backoff *= 2
		if cerr := b.connect(); cerr != nil {
			if imapconn.Permanent(cerr) {
				return cerr
			}
			continue
		}
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
			case imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts, imap.MailboxAttrFlagged,
				imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash, imap.MailboxAttrImportant:
				mb.specialUse = string(at)
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
