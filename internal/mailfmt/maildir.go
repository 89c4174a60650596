package mailfmt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Maildir info letters of the IMAP system flags (maildir.html: "2,"
// then the letters in ASCII order). 'P' (passed) has no IMAP system flag;
// mailkeep maps it to the $Forwarded keyword (RFC 5788) both ways.
var flagLetter = map[string]byte{
	`\draft`:     'D',
	`\flagged`:   'F',
	`$forwarded`: 'P',
	`\answered`:  'R',
	`\seen`:      'S',
	`\deleted`:   'T',
}

var letterFlag = map[byte]string{
	'D': `\Draft`,
	'F': `\Flagged`,
	'P': `$Forwarded`,
	'R': `\Answered`,
	'S': `\Seen`,
	'T': `\Deleted`,
}

// MaildirPath is the Maildir++ directory of a folder relative to the
// Maildir root, as Dovecot lays it out by default: "" for INBOX,
// ".Sent", ".Archive.2019"; each level in modified UTF-7, with the
// escapes of names.go (a '.' inside a level as U+2024, "&ICQ-"; a '/' as
// U+2215). It names one folder on its own; an export names all of its
// folders through one Namer, which keeps them apart.
func MaildirPath(folder Folder) string { return NewNamer(Maildir, "").Path(folder) }

var (
	lookAlike   = strings.NewReplacer(".", "\u2024", "/", "\u2215")
	unLookAlike = strings.NewReplacer("\u2024", ".", "\u2215", "/")
)

// MaildirWriter writes a Maildir++ tree: INBOX in DIR itself, other
// folders in DIR/.Name.Sub, each with cur/, new/ and tmp/ (and the
// maildirfolder marker), the layout Dovecot, mutt/neomutt and notmuch
// read. A message is written into tmp/ and renamed into cur/ with its
// flags in the name (":2,FRS"); its mtime is the INTERNALDATE. Keywords
// get letters a-z through the folder's dovecot-keywords file, Dovecot's
// convention (26 at most per folder; others are dropped and reported).
//
// Add is safe for concurrent use: files are written in parallel; folder
// creation and keyword letters are serialised.
type MaildirWriter struct {
	mu      sync.Mutex // guards folders and their keywords
	dir     string
	folders map[string]*maildirFolder
	names   *Namer
	seq     atomic.Int64
	pid     int
	// Sync fsyncs every message file before it is renamed into place
	// (slow on disks: one flush per message). Without it the files are
	// complete under their final names but a power cut may lose them.
	Sync bool
}

type maildirFolder struct {
	dir      string
	keywords []string          // index = letter - 'a'
	present  map[string]string // unique part -> "cur/NAME" or "new/NAME" of files an earlier export left
	// claimed holds the unique parts this run has written (or is
	// writing), as digests: 16 bytes a message, where a name and its path
	// took ~150 (a million messages exported held 255 MB).
	claimed map[nameKey]struct{}
}

// NewMaildirWriter returns a writer of a Maildir++ tree rooted at dir.
func NewMaildirWriter(dir string) *MaildirWriter {
	return &MaildirWriter{dir: dir, folders: map[string]*maildirFolder{}, names: NewNamer(Maildir, dir), pid: os.Getpid()}
}

// Names is the writer's Namer: Plan the export's folders with it first.
func (w *MaildirWriter) Names() *Namer { return w.names }

// DroppedKeywordError is returned (wrapped) when a message was written but
// some of its keywords could not be: Maildir has 26 keyword letters.
type DroppedKeywordError struct{ Keywords []string }

func (e *DroppedKeywordError) Error() string {
	return fmt.Sprintf("keywords dropped (a Maildir folder holds 26 at most): %s", strings.Join(e.Keywords, " "))
}

func (w *MaildirWriter) folder(folder Folder) (*maildirFolder, error) {
	rel, err := w.names.path(folder)
	if err != nil {
		return nil, err
	}
	if f, ok := w.folders[rel]; ok {
		return f, nil
	}
	dir := filepath.Join(w.dir, rel)
	for _, sub := range []string{"cur", "new", "tmp"} {
		if _, err := mkdirUnder(w.dir, filepath.Join(rel, sub)); err != nil {
			return nil, err
		}
	}
	if rel != "" {
		mf, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_WRONLY|os.O_CREATE|oNoFollow, 0o600)
		if err != nil {
			return nil, err
		}
		mf.Close()
	}
	kw, err := readDovecotKeywords(dir)
	if err != nil {
		return nil, err
	}
	f := &maildirFolder{dir: dir, keywords: kw, present: map[string]string{}, claimed: map[nameKey]struct{}{}}
	// What an earlier export wrote (a Maildir written into again with
	// --force): the same message gets the same name, so it is not
	// written twice.
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			if base, _ := splitInfo(e.Name()); strings.HasSuffix(base, ".mailkeep") || strings.Contains(base, ".mailkeep,") {
				f.present[strings.SplitN(base, ",", 2)[0]] = sub + "/" + e.Name()
			}
		}
	}
	w.folders[rel] = f
	return f, nil
}

// letters returns the info letters of flags, giving new keywords letters
// (and rewriting dovecot-keywords before any file uses them).
func (w *MaildirWriter) letters(f *maildirFolder, flags []string) (string, []string, error) {
	var out []byte
	var dropped []string
	grew := false
	for _, fl := range flags {
		low := strings.ToLower(fl)
		if low == `\recent` || fl == "" {
			continue
		}
		if c, ok := flagLetter[low]; ok {
			out = append(out, c)
			if low != `$forwarded` {
				continue
			}
		}
		if strings.HasPrefix(fl, `\`) {
			dropped = append(dropped, fl)
			continue
		}
		idx := slices.IndexFunc(f.keywords, func(k string) bool { return strings.EqualFold(k, fl) })
		if idx < 0 {
			if len(f.keywords) >= 26 || !keywordOK(fl) {
				dropped = append(dropped, fl)
				continue
			}
			idx = len(f.keywords)
			f.keywords = append(f.keywords, fl)
			grew = true
		}
		out = append(out, byte('a'+idx))
	}
	if grew {
		if err := writeDovecotKeywords(f.dir, f.keywords); err != nil {
			return "", nil, err
		}
	}
	slices.Sort(out)
	return string(slices.Compact(out)), dropped, nil
}

// keywordOK: an IMAP atom (RFC 3501 9) that fits on a dovecot-keywords line.
func keywordOK(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// Add writes one message: tmp/NAME, mtime set, then renamed to
// cur/NAME:2,FLAGS.
func (w *MaildirWriter) Add(folder Folder, m *Message) (string, error) {
	w.mu.Lock()
	f, err := w.folder(folder)
	if err != nil {
		w.mu.Unlock()
		return "", fmt.Errorf("maildir for %s: %w", folder.Name, err)
	}
	letters, dropped, err := w.letters(f, m.Flags)
	w.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("%s: dovecot-keywords: %w", f.dir, err)
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	id := m.ID
	if id == "" {
		id = "m"
	}
	// The name depends only on the message (date and ID), so exporting
	// again into the same Maildir finds it: the file is left alone, its
	// flags brought up to date.
	base := fmt.Sprintf("%d.M%dQ%s.mailkeep", date.Unix(), date.Nanosecond()/1000, id)
	key := keyOf(base)
	w.mu.Lock()
	if old, ok := f.present[base]; ok {
		w.mu.Unlock()
		return w.refresh(f, old, base, letters)
	}
	if _, ok := f.claimed[key]; ok {
		w.mu.Unlock()
		return "", ErrExists // written in this run already (the same message twice)
	}
	f.claimed[key] = struct{}{}
	w.mu.Unlock()
	tmp := filepath.Join(f.dir, "tmp", fmt.Sprintf("%s.%d-%d", base, w.pid, w.seq.Add(1)))
	n, err := writeFile(tmp, m.Body, m.Size, date, w.Sync)
	if err != nil {
		w.mu.Lock()
		delete(f.claimed, key)
		w.mu.Unlock()
		return "", fmt.Errorf("%s: %w", tmp, err)
	}
	// S= is the file's size: Dovecot takes it as the message's physical
	// size without a stat, so it must be exact (it is: the bytes are).
	final := filepath.Join(f.dir, "cur", fmt.Sprintf("%s,S=%d:2,%s", base, n, letters))
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		w.mu.Lock()
		delete(f.claimed, key)
		w.mu.Unlock()
		return "", fmt.Errorf("%s: %w", final, err)
	}
	if len(dropped) > 0 {
		return final, &DroppedKeywordError{Keywords: dropped}
	}
	return final, nil
}

// refresh handles a message an earlier export left in the Maildir: its
// flags are brought up to date (a rename), its bytes left alone.
func (w *MaildirWriter) refresh(f *maildirFolder, old, base, letters string) (string, error) {
	oldBase, info := splitInfo(filepath.Base(old))
	if info == "2,"+letters {
		return filepath.Join(f.dir, old), ErrExists
	}
	final := filepath.Join(f.dir, "cur", oldBase+":2,"+letters)
	if err := os.Rename(filepath.Join(f.dir, old), final); err != nil {
		return "", err
	}
	w.mu.Lock()
	f.present[base] = "cur/" + filepath.Base(final)
	w.mu.Unlock()
	return final, ErrExists
}

// FolderDone forgets what the writer keeps of a folder whose messages are
// all written (FolderEnder): memory stays that of one folder. Written
// into again, the folder is read from the disk as an earlier export's.
func (w *MaildirWriter) FolderDone(folder Folder) {
	rel, err := w.names.path(folder)
	if err != nil {
		return
	}
	w.mu.Lock()
	delete(w.folders, rel)
	w.mu.Unlock()
}

// writeFile writes body to a new file at path with mtime date, removing
// it again on any failure. size, if not -1, is checked.
func writeFile(path string, body io.Reader, size int64, date time.Time, sync bool) (int64, error) {
	f, err := createExcl(path)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, body)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("message is %d bytes, expected %d", n, size)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(path, date, date)
	}
	if err != nil {
		os.Remove(path)
		return 0, err
	}
	return n, nil
}

// Close has nothing left to finish: every message is complete when Add returns.
func (w *MaildirWriter) Close() error { return nil }

// Abort: nothing is unfinished after Add returns.
func (w *MaildirWriter) Abort() {}

// readDovecotKeywords reads a folder's dovecot-keywords ("N NAME" lines).
func readDovecotKeywords(dir string) ([]string, error) {
	f, err := openNoFollow(filepath.Join(dir, "dovecot-keywords"))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrLink) {
		// A link is not read: the file written in its place replaces it.
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	f.Close()
	if err != nil {
		return nil, err
	}
	var kw []string
	for _, line := range strings.Split(string(b), "\n") {
		n, name, ok := strings.Cut(strings.TrimRight(line, "\r"), " ")
		idx, err := strconv.Atoi(n)
		if !ok || err != nil || idx < 0 || idx >= 26 || name == "" {
			continue
		}
		for len(kw) <= idx {
			kw = append(kw, "")
		}
		kw[idx] = name
	}
	return kw, nil
}

func writeDovecotKeywords(dir string, kw []string) error {
	var b strings.Builder
	for i, k := range kw {
		if k != "" {
			fmt.Fprintf(&b, "%d %s\n", i, k)
		}
	}
	tmp := filepath.Join(dir, "tmp", "dovecot-keywords.mailkeep")
	os.Remove(tmp)
	f, err := createExcl(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, "dovecot-keywords"))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
