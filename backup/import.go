package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// ImportOptions say where mail comes from and which account it goes to.
type ImportOptions struct {
	Account string // created with protocol "import" if new
	From    string // a file or a directory tree
	Format  mailfmt.Format
	// Folder is the target folder of a single mailbox; for a tree it is
	// put in front of every folder name ("Old" + "Sent" = "Old/Sent", the
	// root Maildir going into "Old" itself). "" keeps the source's names.
	Folder string
	// DryRun counts what would be stored and writes nothing. repo may be
	// nil then (no archive yet: everything is new).
	DryRun bool
	// CommitEvery is the checkpoint interval in messages; 0 means 500.
	CommitEvery int
}

// ImportResult is what an import did.
type ImportResult struct {
	Account  string
	From     string
	Started  time.Time
	Finished time.Time
	Folders  []ImportFolder
	New      int64 // messages stored for the first time
	Dup      int64 // recorded in a new place; their bytes were already archived
	Known    int64 // imported from this source before: nothing to do
	Flags    int64 // of the known ones, flag changes recorded
	Bytes    int64 // bytes of the messages read
	Warnings int64
	Errors   []error // messages and files that could not be imported
	Fatal    error
	DryRun   bool
}

// ImportFolder is one source mailbox's part of an ImportResult.
type ImportFolder struct {
	Name     string // target folder
	Source   string // Maildir, mbox file or directory read
	Format   mailfmt.Format
	New, Dup int64
	Known    int64
	Bytes    int64
	Failed   int64
}

// OK reports whether everything found was imported.
func (r *ImportResult) OK() bool { return r.Fatal == nil && len(r.Errors) == 0 }

// Err sums the failures up as one error, or nil.
func (r *ImportResult) Err() error {
	if r.OK() {
		return nil
	}
	var errs []error
	if r.Fatal != nil {
		errs = append(errs, r.Fatal)
	}
	return errors.Join(append(errs, r.Errors...)...)
}

// Import brings the mail of a Maildir (or a tree of them), mbox files,
// .eml files or an imap-backup tree into an account of the archive.
//
// Every message place gets a key that names it in the source (its UIDL
// field: "maildir:.Sent/1234.M5P6.host", "mbox:Sent.mbox:<sha256
// prefix>", "imap-backup:INBOX/<uidvalidity>/<uid>", ...), so importing
// the same source again adds nothing; the bytes are deduplicated against
// everything archived, as for backups. A file or message that cannot be
// read is recorded and the rest goes on.
func Import(ctx context.Context, repo *archive.Repo, o *ImportOptions, rep progress.Reporter) *ImportResult {
	res := &ImportResult{Account: o.Account, From: o.From, Started: time.Now(), DryRun: o.DryRun}
	defer func() { res.Finished = time.Now() }()
	progress.Send(rep, progress.Event{Kind: progress.AccountStart, Account: o.Account})
	im := &importer{ctx: ctx, repo: repo, o: o, rep: rep, res: res}
	if err := im.run(); err != nil {
		res.Fatal = err
		progress.Send(rep, progress.Event{Kind: progress.Failed, Account: o.Account, Err: err})
	}
	progress.Send(rep, progress.Event{Kind: progress.AccountDone, Account: o.Account, Err: res.Err()})
	return res
}

type importer struct {
	ctx  context.Context
	repo *archive.Repo
	o    *ImportOptions
	rep  progress.Reporter
	res  *ImportResult
	acct *archive.Account
	seen map[archive.Hash]bool // dry run: messages counted as new already
}

func (im *importer) run() error {
	boxes, problems, err := mailfmt.Discover(im.o.From, im.o.Format)
	if err != nil {
		return fmt.Errorf("import from %s: %w", im.o.From, err)
	}
	for _, p := range problems {
		im.problem("", p)
	}
	if len(boxes) == 0 {
		what := "mailboxes"
		if im.o.Format != "" {
			what = string(im.o.Format) + " mailboxes"
		}
		return fmt.Errorf("import from %s: no %s found (Maildirs, mbox files, .eml files, imap-backup folders)", im.o.From, what)
	}
	if im.repo != nil {
		if im.o.DryRun {
			im.acct, _ = im.repo.LookupAccount(im.ctx, im.o.Account)
		} else if im.acct, err = im.repo.Account(im.ctx, im.o.Account, "import"); err != nil {
			return err
		}
	}
	if im.o.DryRun {
		im.seen = map[archive.Hash]bool{}
	}
	for _, b := range boxes {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		name := im.target(b, len(boxes))
		fr := ImportFolder{Name: name, Source: b.Path, Format: b.Format}
		err := im.box(b, &fr)
		im.res.Folders = append(im.res.Folders, fr)
		if err != nil {
			if im.ctx.Err() != nil {
				return im.ctx.Err()
			}
			if errors.Is(err, errImportStop) {
				return err
			}
			im.problem(name, importWithPath(b.Path, err))
		}
	}
	return nil
}

// errImportStop marks errors after which the archive accepts no more writes.
var errImportStop = errors.New("archive write failed")

// target is the archive folder a source mailbox goes into.
func (im *importer) target(b mailfmt.Mailbox, n int) string {
	switch {
	case im.o.Folder == "":
		return b.Name
	case n == 1 || b.Name == "INBOX":
		return im.o.Folder
	}
	return im.o.Folder + "/" + b.Name
}

// problem records a failure (or, for what loses no mail, a warning).
func (im *importer) problem(folder string, err error) {
	if importWarning(err) {
		im.res.Warnings++
		progress.Send(im.rep, progress.Event{Kind: progress.Warning, Account: im.o.Account, Folder: folder, Text: err.Error()})
		return
	}
	im.res.Errors = append(im.res.Errors, err)
	progress.Send(im.rep, progress.Event{Kind: progress.Failed, Account: im.o.Account, Folder: folder, Err: err})
}

// importWarning: a problem that loses no mail (a stray entry, a name
// that is not UTF-8, a symbolic link not followed) is a warning.
func importWarning(err error) bool {
	return errors.Is(err, mailfmt.ErrStray) || errors.Is(err, mailfmt.ErrBadName) || errors.Is(err, mailfmt.ErrLink)
}

// importKnown is a place this source filled in an earlier import.
type importKnown struct {
	hash  archive.Hash
	size  int64
	flags string
}

// importBox is the state of one mailbox being imported.
type importBox struct {
	b       mailfmt.Mailbox
	fr      *ImportFolder
	folder  *archive.Folder
	known   map[string]importKnown
	occur   map[archive.Hash]int // mbox: how often each message was seen so far
	since   int
	lastCkp time.Time
}

func (im *importer) box(b mailfmt.Mailbox, fr *ImportFolder) error {
	x := &importBox{b: b, fr: fr, occur: map[archive.Hash]int{}, lastCkp: time.Now()}
	r, err := b.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	total := int64(-1)
	if c, ok := r.(interface{ Count() int }); ok {
		total = int64(c.Count())
	}
	progress.Send(im.rep, progress.Event{Kind: progress.FolderStart, Account: im.o.Account, Folder: fr.Name, Total: max(total, 0),
		Text: string(b.Format) + " " + b.Path})
	if im.repo != nil && !im.o.DryRun {
		if x.folder, err = im.repo.Folder(im.ctx, im.acct, fr.Name); err != nil {
			return fmt.Errorf("%w: %w", errImportStop, err)
		}
		if x.folder.Delimiter == "" {
			x.folder.Delimiter = "/"
			x.folder.LastSeen = time.Now()
			if err := im.repo.UpdateFolder(im.ctx, x.folder); err != nil {
				return fmt.Errorf("%w: %w", errImportStop, err)
			}
		}
	}
	if x.known, err = im.knownPlaces(fr.Name, b.KeyPrefix); err != nil {
		return err
	}
	var g *ingester
	if !im.o.DryRun {
		g = newIngester(im.ctx, im.repo, func(it *item) error { return im.record(x, it) })
	}
	loopErr := im.messages(x, r, g)
	if g != nil {
		if err := g.close(); err != nil && loopErr == nil {
			loopErr = fmt.Errorf("%w: %w", errImportStop, err)
		}
		if loopErr == nil || !errors.Is(loopErr, errImportStop) {
			if err := im.repo.Commit(im.ctx); err != nil {
				loopErr = fmt.Errorf("%w: %w", errImportStop, err)
			}
		}
	}
	progress.Send(im.rep, progress.Event{Kind: progress.FolderDone, Account: im.o.Account, Folder: fr.Name,
		Text: im.folderText(fr), Err: loopErr})
	return loopErr
}

func (im *importer) folderText(fr *ImportFolder) string {
	verb := "imported"
	if im.o.DryRun {
		verb = "would import"
	}
	s := fmt.Sprintf("%s %d new, %d already archived", verb, fr.New, fr.Dup)
	if fr.Known > 0 {
		s += fmt.Sprintf(", %d imported before", fr.Known)
	}
	if fr.Failed > 0 {
		s += fmt.Sprintf(", %d failed", fr.Failed)
	}
	return s
}

// knownPlaces loads the places an earlier import of this source made.
func (im *importer) knownPlaces(folder, prefix string) (map[string]importKnown, error) {
	out := map[string]importKnown{}
	if im.repo == nil || im.acct == nil {
		return out, nil
	}
	known, err := im.repo.KeyedPlaces(im.ctx, im.acct.ID, folder, prefix)
	if err != nil {
		return nil, err
	}
	for _, k := range known {
		out[k.Key] = importKnown{hash: k.Hash, size: k.Size, flags: k.Flags}
	}
	return out, nil
}

// messages reads the mailbox and feeds the ingester (or, in a dry run,
// counts).
func (im *importer) messages(x *importBox, r mailfmt.Reader, g *ingester) error {
	for {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		m, err := r.Next()
		if err == io.EOF {
			return nil
		}
		var p *mailfmt.Problem
		if errors.As(err, &p) {
			if !importWarning(err) {
				x.fr.Failed++
			}
			im.problem(x.fr.Name, err)
			continue
		}
		if err != nil {
			return err
		}
		if err := im.message(x, m, g); err != nil {
			if errors.Is(err, errImportStop) || im.ctx.Err() != nil {
				return err
			}
			x.fr.Failed++
			im.problem(x.fr.Name, importWithPath(importWhere(m), err))
		}
	}
}

func (im *importer) message(x *importBox, m *mailfmt.Message, g *ingester) error {
	if k, ok := x.known[m.Key]; ok && m.Key != "" {
		// Imported before: only the flags may have changed.
		return im.knownAgain(x, m, k)
	}
	// Read it: into memory when small, else streamed into the archive.
	var raw []byte
	var big io.Reader
	switch {
	case m.Size >= 0 && m.Size <= archive.BigMessage:
		raw = make([]byte, m.Size)
		if _, err := io.ReadFull(m.Body, raw); err != nil {
			return importReadErr(err)
		}
		// A file that grew since it was listed is read as listed.
	case m.Size >= 0:
		if done, err := im.bigArchivedForm(x, m, g); done || err != nil {
			return err
		}
		big = io.LimitReader(m.Body, m.Size)
	default:
		buf := make([]byte, 0, 64<<10)
		var err error
		buf, err = importReadUpTo(m.Body, buf, archive.BigMessage+1)
		if err != nil {
			return importReadErr(err)
		}
		if len(buf) <= archive.BigMessage {
			raw = buf
		} else {
			big = io.MultiReader(bytes.NewReader(buf), m.Body)
		}
	}
	if raw != nil {
		var err error
		if raw, err = im.archivedForm(raw); err != nil {
			return err
		}
	}
	if m.Date.IsZero() && raw != nil {
		m.Date = importHeaderDate(raw)
	}
	if m.Flags == nil && x.b.Format == mailfmt.Mbox && raw != nil {
		m.Flags = mailfmt.StatusFlags(raw)
	}
	it := &item{uidl: m.Key, flags: m.Flags, date: m.Date, raw: raw}
	if im.o.DryRun {
		return im.count(x, it, big)
	}
	if big != nil {
		h, n, added, err := im.repo.PutMessageReader(im.ctx, importSourceReader{big}, -1)
		if err != nil {
			var p *mailfmt.Problem
			var se *importSourceError
			if errors.As(err, &p) || errors.As(err, &se) || im.ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("%w: store large message: %w", errImportStop, err)
		}
		if m.Size >= 0 && n != m.Size {
			return fmt.Errorf("read %d bytes, the file has %d", n, m.Size)
		}
		it.hash, it.size, it.added = h, n, added
	}
	if err := g.add(it); err != nil {
		return fmt.Errorf("%w: %w", errImportStop, err)
	}
	return nil
}

// importReadUpTo appends from r to buf until r ends or buf holds limit bytes.
func importReadUpTo(r io.Reader, buf []byte, limit int) ([]byte, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(cap(buf), limit)
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func importHeaderDate(raw []byte) time.Time {
	t, err := mail.ParseDate(archive.ParseHeader(raw).Date)
	if err != nil {
		return time.Time{}
	}
	return t
}

// knownAgain handles a message this source gave before.
func (im *importer) knownAgain(x *importBox, m *mailfmt.Message, k importKnown) error {
	x.fr.Known++
	im.res.Known++
	progress.Send(im.rep, progress.Event{Kind: progress.Skipped, Account: im.o.Account, Folder: x.fr.Name, UIDL: m.Key,
		Text: "imported before"})
	if archive.JoinFlags(m.Flags) == k.flags || im.o.DryRun || m.Flags == nil && x.b.Format == mailfmt.Mbox {
		return nil
	}
	im.res.Flags++
	err := im.repo.AddMessage(im.ctx, &archive.Message{Folder: x.folder.ID, UIDL: m.Key, Hash: k.hash, Size: k.size,
		Flags: m.Flags, InternalDate: m.Date})
	if err != nil {
		return fmt.Errorf("%w: %w", errImportStop, err)
	}
	return nil
}

// record runs in order for every stored message: the index row,
// progress, and every CommitEvery messages a checkpoint.
func (im *importer) record(x *importBox, it *item) error {
	size := it.size
	if it.raw != nil {
		size = int64(len(it.raw))
	}
	key := it.uidl
	if key == "" {
		key = im.contentKey(x, it.hash)
		if _, ok := x.known[key]; ok {
			x.fr.Known++
			im.res.Known++
			return nil
		}
	}
	m := &archive.Message{Folder: x.folder.ID, UIDL: key, Hash: it.hash, Size: size, Flags: it.flags, InternalDate: it.date}
	if err := im.repo.AddMessage(im.ctx, m); err != nil {
		return err
	}
	im.tally(x, it.added, size)
	progress.Send(im.rep, progress.Event{Kind: progress.Item, Account: im.o.Account, Folder: x.fr.Name, UIDL: key, Bytes: size})
	x.since++
	every := im.o.CommitEvery
	if every <= 0 {
		every = 500
	}
	if x.since >= every || time.Since(x.lastCkp) > 2*time.Second {
		x.since, x.lastCkp = 0, time.Now()
		return im.repo.Commit(im.ctx)
	}
	return nil
}
