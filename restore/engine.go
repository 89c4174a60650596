package restore

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// Target is the IMAP account mail is written into.
type Target struct {
	Name string
	// Dial opens a logged-in go-imap connection, for looking at the
	// target (folders, UIDs, flags); called again after it breaks.
	Dial func(ctx context.Context) (*imapconn.Conn, error)
	// Login says how to connect and log in for APPENDs, which go over
	// mailkeep's own small client (synchronizing literals, MULTIAPPEND).
	Login *imapconn.Options
	// Connections is the most connections open to the target at once:
	// one looks, the others (at least one) APPEND; 0 means 4.
	Connections int
	// FolderMap maps a source folder name (with its delimiter) to a target
	// name written with "/" (config.Account.MapFolder); nil: none.
	FolderMap func(name string, delim rune) (string, bool)
	// Retries is how often one message is tried again after throttling or
	// a dropped connection; 0 means 8.
	Retries int
	// Backoff is the first wait after the server asks to slow down
	// (doubling up to a minute); 0 means 1s.
	Backoff time.Duration
}

// Options choose what is restored and how.
type Options struct {
	// Source is the archive account whose mail is restored.
	Source string
	// Include chooses source folders by canonical name (namespace.Canonical:
	// the source's personal prefix off, "/" as delimiter) and the source's
	// delimiter; nil means all.
	Include func(name string, delim rune) bool
	// Namespaces are the source namespaces restored; nil: the personal one
	// only (other users' and public folders a backup was asked to keep are
	// not the account's mail).
	Namespaces namespace.Wanted
	// IncludeDeleted also restores messages gone from the source server.
	IncludeDeleted bool
	// Only restores just these message places (ids, as search gives
	// them); nil means all.
	Only map[int64]bool
	// AsOf restores the state of that moment: messages archived by then
	// and not gone by then.
	AsOf time.Time
	// DryRun maps folders and counts what would be copied; it writes
	// nothing anywhere and opens target folders read-only.
	DryRun bool
	// RepairLineEndings turns bare LF into CRLF before the APPEND (for
	// servers such as Cyrus that refuse bare LF); every message changed is
	// listed in the result. Off by default: a message is never altered
	// silently.
	RepairLineEndings bool
	// CommitEvery is the ledger checkpoint interval in messages; 0 means 500.
	CommitEvery int
	// Poll is how often a migration looks for newly archived mail; 0 means 250ms.
	Poll time.Duration
	// SourceFolders lists the live source's folders, for a dry run of a
	// migration: folders the archive does not hold yet are mapped too, and
	// what the backup would fetch counts as what would be copied.
	SourceFolders func(ctx context.Context) ([]SourceFolder, error)
}

// SourceFolder is a folder as the source server lists it.
type SourceFolder struct {
	Name       string
	Delim      rune
	SpecialUse string         // \Sent, ... or ""
	Kind       namespace.Kind // its namespace; "" is personal
}

// place is one source message place (a row of the archive's messages
// table) that is to be on the target.
type place struct {
	id      int64
	src     *srcFolder
	uid     uint32
	hash    archive.Hash
	size    int64
	flags   string // archive.JoinFlags form
	date    time.Time
	gone    bool
	msgid   string
	dateHdr string

	row       *lrow // the target message it is paired with, once known
	queued    bool  // waiting for or in an APPEND
	pending   bool  // appended without a UID, or the outcome was lost: resolve by looking
	uncertain bool  // pending because the connection died after the body went out
	skipped   bool  // the target refused it for good
	attempts  int   // APPENDs tried that failed for a passing reason
}

func (p *place) flagList() []string { return archive.SplitFlags(p.flags) }

// appendDate is the INTERNALDATE to give the target: the source's, with
// its zone; for POP3 sources (no INTERNALDATE) the Date: header.
func (p *place) appendDate() time.Time {
	if !p.date.IsZero() {
		return p.date
	}
	if t, err := mail.ParseDate(p.dateHdr); err == nil {
		return t
	}
	return time.Time{}
}

func (p *place) skip(reason string) Skip {
	return Skip{Folder: p.src.f.Name, UID: p.uid, MessageID: p.msgid, Hash: p.hash, Size: p.size, Reason: reason}
}

// lrow is a ledger row whose UID is on the target.
type lrow struct {
	archive.LedgerEntry
	place *place
}

// srcFolder is one source folder and where its mail goes.
type srcFolder struct {
	f      *archive.Folder // ID < 0: listed on the source, not archived yet (dry run)
	m      mapping
	tf     *tfolder
	lastID int64
	loaded bool
	places map[int64]*place
	fetch  int64 // dry run: messages the backup would fetch first
}

// tfolder is one target folder and what is known of it.
type tfolder struct {
	name       string
	specialUse string
	res        *FolderResult
	err        error
	srcs       []*srcFolder

	exists     bool
	opened     bool
	uidv       uint32
	policy     *flagPolicy
	onTarget   map[uint32]bool
	scanned    uint32 // every UID up to this one has been looked at (APPENDUIDs do not count)
	bySource   map[int64]*lrow
	byHash     map[archive.Hash][]*lrow
	foreign    *foreignSet // target mail the ledger does not explain; loaded when needed
	unknown    []uint32    // UIDs of that mail
	places     map[int64]*place
	pending    []*place
	atRisk     []*place                         // appended with a UID; the target may have altered them (altered.go)
	unverified []*place                         // adopted without comparing bytes (altered.go)
	keys       map[string]map[archive.Hash]bool // Message-ID+size -> hashes among source places
	started    bool                             // FolderStart sent
}

type engine struct {
	ctx  context.Context
	wctx context.Context // for archive writes: what was appended is recorded even when interrupted
	repo *archive.Repo
	t    *Target
	o    *Options
	rep  progress.Reporter
	res  *Result

	offServer           map[int64]bool // folders gone from the server that hold mail mailkeep took off it (sources.go)
	planSlot            *slot
	lay                 *layout
	uidplus             bool
	esearch             bool
	canCreateSpecialUse bool
	appendLimit         uint64
	selConn             *imapconn.Conn // connection the planner last SELECTed on
	selName             string

	acct    *archive.Account
	srcs    map[int64]*srcFolder
	srcList []*srcFolder
	tfs     map[string]*tfolder
	lastMax int64 // highest messages.id seen by the last round
	// backupRunning: a migration's backup is still writing the archive, so
	// folders it has not checkpointed yet are left for a later round.
	backupRunning bool
	listed        []*archive.Folder // dry run: source folders the archive lacks
	outside       map[int64]bool    // source folders of namespaces not restored (told once)

	q           jobQueue
	jobs        chan []*job
	results     chan *result
	workers     int
	sinceCommit int
	lastCommit  time.Time
	throttle    time.Duration
}

func newEngine(ctx context.Context, repo *archive.Repo, t *Target, o *Options, rep progress.Reporter) *engine {
	if o == nil {
		o = &Options{}
	}
	res := &Result{Source: o.Source, Target: t.Name, Started: time.Now(), DryRun: o.DryRun}
	e := &engine{ctx: ctx, wctx: context.WithoutCancel(ctx), repo: repo, t: t, o: o, rep: rep, res: res,
		srcs: map[int64]*srcFolder{}, tfs: map[string]*tfolder{}, lastCommit: time.Now()}
	e.planSlot = &slot{dial: t.Dial}
	e.workers = max(1, t.Connections-1)
	if t.Connections <= 0 {
		e.workers = 3
	}
	return e
}

// start logs in to the target and learns its layout.
func (e *engine) start() error {
	if e.t.Login == nil || e.t.Dial == nil {
		return fmt.Errorf("target %s: no connection settings", e.t.Name)
	}
	c, err := e.planSlot.get(e.ctx)
	if err != nil {
		return fmt.Errorf("target %s: %w", e.t.Name, err)
	}
	caps := c.Caps()
	e.uidplus = caps.Has(imap.CapUIDPlus)
	e.esearch = caps.Has(imap.CapESearch)
	e.canCreateSpecialUse = caps.Has(imap.CapCreateSpecialUse)
	if n, ok := caps.AppendLimit(); ok && n != nil {
		e.appendLimit = uint64(*n)
	}
	e.lay, err = discover(c)
	if err != nil {
		return fmt.Errorf("target %s: %w", e.t.Name, err)
	}
	if !e.uidplus {
		e.info("", "the target has no UIDPLUS: appended messages are found afterwards by looking")
	}
	return nil
}

func (e *engine) close() {
	e.planSlot.drop()
	if e.jobs != nil {
		close(e.jobs)
		e.jobs = nil
	}
}

// planRound brings every target folder's plan up to date with what the
// archive holds: full reads every source folder again (flag changes,
// messages gone), otherwise only messages archived since the last round
// are looked at. What is to be appended is queued, not sent.
func (e *engine) planRound(full bool) error {
	if !full {
		max, err := e.repo.LastPlaceID(e.ctx)
		if err != nil {
			return archiveErr(err)
		}
		if max == e.lastMax {
			return nil
		}
		e.lastMax = max
	}
	if err := e.refreshSources(); err != nil {
		return err
	}
	fresh := map[*tfolder][]*place{}
	reloaded := map[*tfolder]bool{}
	var order []*tfolder
	for _, sf := range e.srcList {
		tf := sf.tf
		if _, seen := fresh[tf]; !seen {
			fresh[tf] = nil
			order = append(order, tf)
		}
		after := sf.lastID
		if full || !sf.loaded {
			after = 0
		}
		places, err := e.loadPlaces(sf, after)
		if err != nil {
			return err
		}
		for _, p := range places {
			if p.id > sf.lastID {
				sf.lastID = p.id
			}
		}
		if after == 0 {
			reloaded[tf] = true
			fresh[tf] = append(fresh[tf], e.reconcile(sf, places)...)
			sf.loaded = true
		} else {
			for _, p := range places {
				if sf.places[p.id] == nil {
					sf.places[p.id] = p
					fresh[tf] = append(fresh[tf], p)
				}
			}
		}
	}
	for _, tf := range order {
		if e.ctx.Err() != nil {
			return e.ctx.Err()
		}
		if tf.err != nil {
			// Failed (the target refused to create it, say): its messages
			// still count as not on the target.
			for _, p := range fresh[tf] {
				tf.places[p.id] = p
			}
			continue
		}
		if len(fresh[tf]) == 0 && !full {
			continue
		}
		if err := e.plan(tf, fresh[tf], full || reloaded[tf]); err != nil {
			if fatal(err) {
				return err
			}
			e.folderFailed(tf, err)
		}
	}
	return nil
}

// settle sends what is queued (and, while feed says there is more to come,
// what feed plans meanwhile), then finds what was appended without a UID
// or lost its answer, sending again what the target did not keep.
func (e *engine) settle(feed func() (bool, error)) error {
	if e.o.DryRun {
		return nil
	}
	for pass := 0; ; pass++ {
		if err := e.drain(feed); err != nil {
			return err
		}
		feed = nil
		for _, tf := range e.orderedFolders() {
			if err := e.checkAltered(tf); err != nil {
				if fatal(err) {
					return err
				}
				e.folderFailed(tf, err)
			}
		}
		for _, tf := range e.orderedFolders() {
			if len(tf.pending) > 0 && tf.err == nil {
				if err := e.resolvePending(tf); err != nil {
					if fatal(err) {
						return err
					}
					e.folderFailed(tf, err)
				}
			}
		}
		if e.q.n == 0 || pass == 2 {
			break
		}
	}
	e.unqueue()
	for _, tf := range e.orderedFolders() {
		for _, p := range tf.pending {
			tf.res.Skipped = append(tf.res.Skipped, p.skip("appended, but not found on the target afterwards; the next run looks again"))
			p.pending, p.skipped = false, true
		}
		tf.pending = nil
	}
	return e.commit(true)
}

// reconcile takes a full list of a source folder's places: places no longer
// selected (gone from the source meanwhile) let go of their target
// message; known ones take the new flags; new ones are returned.
func (e *engine) reconcile(sf *srcFolder, places []*place) []*place {
	tf := sf.tf
	now := make(map[int64]*place, len(places))
	var fresh []*place
	for _, p := range places {
		now[p.id] = p
		if old := sf.places[p.id]; old != nil {
			old.flags, old.gone = p.flags, p.gone
			continue
		}
		sf.places[p.id] = p
		fresh = append(fresh, p)
	}
	for id, p := range sf.places {
		if now[id] != nil {
			continue
		}
		delete(sf.places, id)
		delete(tf.places, id)
		if p.row != nil {
			p.row.place = nil
			p.row = nil
		}
	}
	return fresh
}

func (e *engine) folderFailed(tf *tfolder, err error) {
	tf.err = err
	tf.res.Err = err
	progress.Send(e.rep, progress.Event{Kind: progress.Failed, Account: e.t.Name, Folder: tf.name, Err: err})
}

// fatal reports errors after which nothing else can work: the archive
// failed, the context ended, or the target refused the login.
func fatal(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || imapconn.Permanent(err) ||
		errors.Is(err, errArchive)
}

// errArchive marks failures of the archive (index or packs).
var errArchive = errors.New("archive")

func archiveErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", errArchive, err)
}

// commit checkpoints the ledger: always when force, otherwise every
// CommitEvery messages or two seconds.
func (e *engine) commit(force bool) error {
	if e.o.DryRun {
		return nil
	}
	every := e.o.CommitEvery
	if every <= 0 {
		every = 500
	}
	if !force && e.sinceCommit < every && time.Since(e.lastCommit) < 2*time.Second {
		return nil
	}
	e.sinceCommit, e.lastCommit = 0, time.Now()
	if err := e.repo.Commit(e.wctx); err != nil {
		return archiveErr(err)
	}
	return nil
}

func (e *engine) orderedFolders() []*tfolder {
	out := make([]*tfolder, 0, len(e.tfs))
	for _, tf := range e.tfs {
		out = append(out, tf)
	}
	idx := map[*FolderResult]int{}
	for i, r := range e.res.Folders {
		idx[r] = i
	}
	sort.Slice(out, func(i, j int) bool { return idx[out[i].res] < idx[out[j].res] })
	return out
}

func (e *engine) info(folder, text string) {
	progress.Send(e.rep, progress.Event{Kind: progress.Info, Account: e.t.Name, Folder: folder, Text: text})
}

func (e *engine) warn(folder, text string) {
	progress.Send(e.rep, progress.Event{Kind: progress.Warning, Account: e.t.Name, Folder: folder, Text: text})
}
