package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// ExportOptions say which archived messages of an account go where.
type ExportOptions struct {
	Account string
	Format  mailfmt.Format // Maildir, Mbox or EML
	Out     string         // directory; created if missing
	// Include chooses folders by name and hierarchy delimiter (see
	// config.FolderFilter.Match); nil means all.
	Include func(name string, delim rune) bool
	// Since and Before bound the INTERNALDATE: on or after Since, before
	// Before. Zero means unbounded.
	Since, Before time.Time
	// IncludeDeleted also exports messages gone from the server.
	IncludeDeleted bool
	// Only exports just these message places (ids, as search gives
	// them); nil means all.
	Only map[int64]bool
	// Force writes into a directory that is not empty.
	Force bool
	// DryRun counts what would be written and writes nothing.
	DryRun bool
	// Sync fsyncs every Maildir and .eml file before renaming it into
	// place (mbox files are always synced).
	Sync bool
	// LineEndings of the messages written; "" is the format's default
	// (mailfmt.DefaultLineEndings: LF for Maildir and mbox, exact for .eml).
	LineEndings mailfmt.LineEndings
}

// ExportResult is what an export did.
type ExportResult struct {
	Account   string
	Format    mailfmt.Format
	Out       string
	Started   time.Time
	Finished  time.Time
	Folders   []ExportFolder
	Messages  int64 // messages written (or, in a dry run, that would be)
	Bytes     int64
	Unchanged int64   // in the output already, from an earlier export (--force)
	Warnings  int64   // messages written with something left out (keywords)
	Errors    []error // messages that could not be exported
	Fatal     error   // the export stopped (or never started)
	DryRun    bool
}

// ExportFolder is one folder's part of an ExportResult.
type ExportFolder struct {
	Name      string
	Path      string // the Maildir, mbox file or .eml directory written
	Messages  int64
	Bytes     int64
	Unchanged int64
	Failed    int64
}

// OK reports whether everything selected was exported.
func (r *ExportResult) OK() bool { return r.Fatal == nil && len(r.Errors) == 0 }

// Err sums the failures up as one error, or nil.
func (r *ExportResult) Err() error {
	if r.OK() {
		return nil
	}
	var errs []error
	if r.Fatal != nil {
		errs = append(errs, r.Fatal)
	}
	return errors.Join(append(errs, r.Errors...)...)
}

// ErrNotEmpty is wrapped by the error of an export into a directory that
// holds files, without Force.
var ErrNotEmpty = errors.New("output directory is not empty")

// Export writes the archived messages of one account into files. It
// always returns a result; failures are in it. A message that cannot be
// read or written is recorded and the export goes on; a full disk stops
// it, with the unfinished file removed.
func Export(ctx context.Context, repo *archive.Repo, o *ExportOptions, rep progress.Reporter) *ExportResult {
	res := &ExportResult{Account: o.Account, Format: o.Format, Out: o.Out, Started: time.Now(), DryRun: o.DryRun}
	defer func() { res.Finished = time.Now() }()
	progress.Send(rep, progress.Event{Kind: progress.AccountStart, Account: o.Account})
	if err := exportRun(ctx, repo, o, rep, res); err != nil {
		res.Fatal = err
		progress.Send(rep, progress.Event{Kind: progress.Failed, Account: o.Account, Err: err})
	}
	progress.Send(rep, progress.Event{Kind: progress.AccountDone, Account: o.Account, Err: res.Err()})
	return res
}

func exportRun(ctx context.Context, repo *archive.Repo, o *ExportOptions, rep progress.Reporter, res *ExportResult) error {
	acct, err := repo.LookupAccount(ctx, o.Account)
	if err != nil {
		return err
	}
	if err := exportCheckOut(o); err != nil {
		return err
	}
	folders, err := repo.Folders(ctx, acct)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Account, err)
	}
	// Folders are named as ls and migrate name them: the source's personal
	// prefix ("INBOX.") off, so INBOX.Sent is exported as Sent.
	ns, err := exportNamespaces(ctx, repo, o.Account, folders)
	if err != nil {
		return err
	}
	byID := map[int64]*archive.Folder{}
	for _, f := range folders {
		if o.Include == nil || o.Include(ns.Canonical(f.Name, exportDelim(f)), exportDelim(f)) {
			g := *f
			g.Name = ns.Relative(f.Name)
			byID[f.ID] = &g
		}
	}
	totals := exportTotals(ctx, repo, o)
	lines := o.LineEndings
	if lines == "" {
		lines = mailfmt.DefaultLineEndings(o.Format)
	}

	var w mailfmt.Writer
	if !o.DryRun {
		w, err = mailfmt.NewWriter(o.Format, o.Out)
		if err != nil {
			return err
		}
		switch fw := w.(type) {
		case *mailfmt.MaildirWriter:
			fw.Sync = o.Sync
		case *mailfmt.EMLWriter:
			fw.Sync = o.Sync
		}
	}
	// Every folder is named before the first message is written, so
	// that which of two clashing names stays plain does not depend on
	// the order of the messages (mailfmt.Namer).
	names := mailfmt.NewNamer(o.Format, "")
	if w != nil {
		names = w.Names()
	}
	var planned []mailfmt.Folder
	for _, f := range byID {
		planned = append(planned, mailfmt.Folder{Name: f.Name, Delim: exportDelim(f), Key: f.ID})
	}
	if err := names.Plan(planned); err != nil {
		return fmt.Errorf("%s: %w", o.Account, err)
	}
	// Maildir and .eml files are independent: several workers write them
	// (creating files is the slow part). An mbox is one stream: one worker.
	workers := 1
	if !o.DryRun && o.Format != mailfmt.Mbox {
		workers = exportWorkers
	}
	var (
		mu      sync.Mutex // guards res, cur and stop
		cur     *ExportFolder
		curF    *archive.Folder
		stop    error // the first error that ends the export
		pending sync.WaitGroup
		jobs    = make(chan exportJob)
		done    sync.WaitGroup
	)
	endFolder := func() {
		if cur == nil {
			return
		}
		if fe, ok := w.(mailfmt.FolderEnder); ok && curF != nil {
			// Its messages are all written (pending.Wait): the writer
			// may forget it, so memory is one folder's, not the export's.
			fe.FolderDone(mailfmt.Folder{Name: curF.Name, Delim: exportDelim(curF), Key: curF.ID})
		}
		res.Folders = append(res.Folders, *cur)
		verb := "exported"
		if o.DryRun {
			verb = "would export"
		}
		text := fmt.Sprintf("%s %d messages, %s, to %s", verb, cur.Messages, exportSize(cur.Bytes), cur.Path)
		if cur.Path == "" {
			text = fmt.Sprintf("%s %d messages, %s, to the top folder", verb, cur.Messages, exportSize(cur.Bytes))
		}
		if cur.Unchanged > 0 {
			text += fmt.Sprintf("; %d there already", cur.Unchanged)
		}
		if cur.Failed > 0 {
			text += fmt.Sprintf("; %d failed", cur.Failed)
		}
		progress.Send(rep, progress.Event{Kind: progress.FolderDone, Account: o.Account, Folder: cur.Name,
			Total: cur.Messages, Bytes: cur.Bytes, Text: text})
		cur = nil
	}
	// finish records the outcome of one message.
	finish := func(j exportJob, err error) {
		mu.Lock()
		defer mu.Unlock()
		f, e := j.f, j.e
		var dk *mailfmt.DroppedKeywordError
		switch {
		case err == nil:
		case errors.Is(err, mailfmt.ErrExists):
			res.Unchanged++
			j.folder.Unchanged++
			progress.Send(rep, progress.Event{Kind: progress.Skipped, Account: o.Account, Folder: f.Name, UID: e.UID,
				UIDL: e.UIDL, Text: "in the output already"})
			return
		case errors.As(err, &dk):
			res.Warnings++
			progress.Send(rep, progress.Event{Kind: progress.Warning, Account: o.Account, Folder: f.Name, UID: e.UID,
				UIDL: e.UIDL, Text: dk.Error()})
			err = nil
		case mailfmt.DiskFull(err):
			if stop == nil {
				stop = fmt.Errorf("%s/%s: %w; export stopped, the unfinished file was removed", o.Account, f.Name, err)
			}
			return
		case ctx.Err() != nil:
			if stop == nil {
				stop = ctx.Err()
			}
			return
		}
		if err != nil {
			err = fmt.Errorf("%s/%s %s: %w", o.Account, f.Name, exportWhere(e), err)
			res.Errors = append(res.Errors, err)
			j.folder.Failed++
			progress.Send(rep, progress.Event{Kind: progress.Failed, Account: o.Account, Folder: f.Name, UID: e.UID, UIDL: e.UIDL, Err: err})
			return
		}
		j.folder.Messages++
		j.folder.Bytes += e.Size
		res.Messages++
		res.Bytes += e.Size
		progress.Send(rep, progress.Event{Kind: progress.Item, Account: o.Account, Folder: f.Name, UID: e.UID, Bytes: e.Size})
	}
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stop != nil
	}
	for i := 0; i < workers; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			for j := range jobs {
				if !stopped() {
					finish(j, exportOne(ctx, repo, w, j.f, j.e, lines))
				}
				pending.Done()
			}
		}()
	}
	q := archive.Query{Account: o.Account, IncludeGone: o.IncludeDeleted, Since: o.Since, Before: o.Before, Only: o.Only, NoHeaders: true}
	var iterErr error
	for e, err := range repo.Messages(ctx, q) {
		if err != nil {
			iterErr = fmt.Errorf("%s: index: %w", o.Account, err)
			break
		}
		if ctx.Err() != nil {
			iterErr = ctx.Err()
			break
		}
		if stopped() {
			break
		}
		f := byID[e.Folder]
		if f == nil {
			continue
		}
		if f != curF {
			pending.Wait() // the folder's messages are all done before it is
			mu.Lock()
			endFolder()
			curF = f
			cur = &ExportFolder{Name: f.Name, Path: names.Path(mailfmt.Folder{Name: f.Name, Delim: exportDelim(f), Key: f.ID})}
			mu.Unlock()
			t := totals[f.ID]
			progress.Send(rep, progress.Event{Kind: progress.FolderStart, Account: o.Account, Folder: f.Name,
				Total: t[0], TotalBytes: t[1]})
		}
		if o.DryRun {
			finish(exportJob{e: e, f: f, folder: cur}, nil)
			continue
		}
		pending.Add(1)
		jobs <- exportJob{e: e, f: f, folder: cur}
	}
	close(jobs)
	done.Wait()
	mu.Lock()
	endFolder()
	if stop == nil {
		stop = iterErr
	}
	mu.Unlock()
	if stop != nil {
		exportAbort(w)
		return stop
	}
	if w != nil {
		if err := w.Close(); err != nil {
			exportAbort(w)
			return fmt.Errorf("%s: %w", o.Account, err)
		}
	}
	return nil
}

// exportWorkers write Maildir and .eml files at once.
const exportWorkers = 4

type exportJob struct {
	e      *archive.Entry
	f      *archive.Folder
	folder *ExportFolder // its tally
}

func exportAbort(w mailfmt.Writer) {
	if w != nil {
		w.Abort()
	}
}

// exportOne streams one stored message into the writer.
func exportOne(ctx context.Context, repo *archive.Repo, w mailfmt.Writer, f *archive.Folder, e *archive.Entry, lines mailfmt.LineEndings) error {
	body, size, done, err := exportBody(ctx, repo, e.Hash, lines)
	if err != nil {
		return err
	}
	defer done()
	date := e.InternalDate // for POP3 (no INTERNALDATE): the Date: header's (archive.Messages)
	// The ID makes a message's file name: the same message (place and
	// bytes) always gets the same one.
	id := e.Hash.String()[:12]
	if e.UID != 0 {
		id = strconv.FormatUint(uint64(e.UID), 10) + "-" + e.Hash.String()[:8]
	}
	_, err = w.Add(mailfmt.Folder{Name: f.Name, Delim: exportDelim(f), Key: f.ID},
		&mailfmt.Message{Body: body, Size: size, Flags: e.Flags, Date: date, ID: id})
	return err
}

// ctxReader stops a long copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func exportWhere(e *archive.Entry) string {
	if e.UIDL != "" {
		return "uidl " + e.UIDL
	}
	return fmt.Sprintf("uid %d", e.UID)
}

// exportNamespaces is what the account's backup recorded of the server's
// namespaces, or a guess from the archived names.
func exportNamespaces(ctx context.Context, repo *archive.Repo, account string, folders []*archive.Folder) (*namespace.Set, error) {
	text, err := repo.Namespaces(ctx, account)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(folders))
	var delim rune
	for i, f := range folders {
		names[i] = f.Name
		if delim == 0 {
			delim = exportDelim(f)
		}
	}
	return namespace.Recorded(text, names, delim), nil
}

func exportDelim(f *archive.Folder) rune {
	if f.Delimiter == "" {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(f.Delimiter)
	return r
}

// exportCheckOut makes sure the output directory exists and is empty
// (or Force is set).
func exportCheckOut(o *ExportOptions) error {
	switch o.Format {
	case mailfmt.Maildir, mailfmt.Mbox, mailfmt.EML:
	default:
		return fmt.Errorf("cannot export as %q (want maildir, mbox or eml)", o.Format)
	}
	st, err := os.Stat(o.Out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if o.DryRun {
			return nil
		}
		if err := os.MkdirAll(o.Out, 0o700); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("output directory: %w", err)
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", o.Out)
	}
	d, err := os.Open(o.Out)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	names, err := d.Readdirnames(1)
	d.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("output directory %s: %w", o.Out, err)
	}
	if len(names) > 0 && !o.Force {
		return fmt.Errorf("%s: %w", o.Out, ErrNotEmpty)
	}
	return nil
}

// exportTotals counts, per folder, the messages and bytes the query will
// give, for progress bars. Date bounds are applied in Go (INTERNALDATE
// is stored with its zone), so with them the totals are left unknown.
func exportTotals(ctx context.Context, repo *archive.Repo, o *ExportOptions) map[int64][2]int64 {
	out := map[int64][2]int64{}
	if !o.Since.IsZero() || !o.Before.IsZero() || o.Only != nil {
		return out
	}
	counts, err := repo.FolderCounts(ctx, o.Account, o.IncludeDeleted)
	if err != nil {
		return out
	}
	for id, c := range counts {
		out[id] = [2]int64{c.Messages, c.Bytes}
	}
	return out
}

func exportSize(n int64) string {
	switch {
	case n >= 10<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
