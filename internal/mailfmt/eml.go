package mailfmt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// EMLWriter writes one .eml file per message, a directory per folder
// (DIR/INBOX, DIR/Archive/2019), named by INTERNALDATE in UTC and an ID
// so that sorting by name sorts by date:
// 2019-03-04T050607Z-1234.eml. The mtime is the INTERNALDATE too. Flags
// have no place in an .eml file and are not written. Add is safe for
// concurrent use.
type EMLWriter struct {
	dir   string
	mu    sync.Mutex
	names map[nameKey]struct{} // paths given out in this run (of the folder being written: FolderDone), as digests
	namer *Namer
	// Sync fsyncs every file before it is renamed into place.
	Sync bool
}

// NewEMLWriter returns a writer of .eml files under dir.
func NewEMLWriter(dir string) *EMLWriter {
	return &EMLWriter{dir: dir, names: map[nameKey]struct{}{}, namer: NewNamer(EML, dir)}
}

// EMLDir is the directory of a folder relative to the export directory
// (names.go). It names one folder on its own; an export names all of its
// folders through one Namer, which keeps them apart.
func EMLDir(folder Folder) string { return NewNamer(EML, "").Path(folder) }

// Names is the writer's Namer: Plan the export's folders with it first.
func (w *EMLWriter) Names() *Namer { return w.namer }

// EMLName is the file name of a message: date, then ID.
func EMLName(date time.Time, id string) string {
	if id == "" {
		id = "m"
	}
	return date.UTC().Format("2006-01-02T150405Z") + "-" + id + ".eml"
}

// Add writes one message under a temporary name and renames it.
func (w *EMLWriter) Add(folder Folder, m *Message) (string, error) {
	rel, err := w.namer.path(folder)
	if err != nil {
		return "", err
	}
	dir, err := mkdirUnder(w.dir, rel)
	if err != nil {
		return "", fmt.Errorf("eml directory for %s: %w", folder.Name, err)
	}
	date := m.Date
	if date.IsZero() {
		date = time.Unix(0, 0)
	}
	name := EMLName(date, m.ID)
	final := filepath.Join(dir, name)
	w.mu.Lock()
	if st, err := os.Lstat(final); err == nil && st.Mode().IsRegular() && !w.given(final) && (m.Size < 0 || st.Size() == m.Size) {
		// From an earlier export into the same directory (same date,
		// same ID, same size): the same message.
		w.mu.Unlock()
		return final, ErrExists
	}
	for i := 2; w.given(final) || exists(final); i++ {
		final = filepath.Join(dir, strings.TrimSuffix(name, ".eml")+fmt.Sprintf("-%d.eml", i))
	}
	w.names[keyOf(final)] = struct{}{}
	w.mu.Unlock()
	release := func() {
		w.mu.Lock()
		delete(w.names, keyOf(final))
		w.mu.Unlock()
	}
	tmp := filepath.Join(dir, "."+filepath.Base(final)+".tmp")
	if _, err := writeFile(tmp, m.Body, m.Size, date, w.Sync); err != nil {
		release()
		return "", fmt.Errorf("%s: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		release()
		return "", fmt.Errorf("%s: %w", final, err)
	}
	return final, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func (w *EMLWriter) given(path string) bool {
	_, ok := w.names[keyOf(path)]
	return ok
}

// FolderDone forgets the names given out (FolderEnder): the folder's
// messages are all written, and the next folder's files are in another
// directory.
func (w *EMLWriter) FolderDone(Folder) {
	w.mu.Lock()
	clear(w.names)
	w.mu.Unlock()
}

// Close: every file is complete when Add returns.
func (w *EMLWriter) Close() error { return nil }

// Abort: nothing is unfinished after Add returns.
func (w *EMLWriter) Abort() {}

// EMLReader reads the .eml files of one directory (not its
// subdirectories: each is a folder of its own), sorted by name. The date
// is the file's mtime; keys are KeyPrefix + "/" + the file name.
type EMLReader struct {
	dir    string
	prefix string
	names  []string
	i      int
	open   *os.File
}

// OpenEMLDir lists the .eml files of dir.
func OpenEMLDir(dir, keyPrefix string) (*EMLReader, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		// A single .eml file.
		return &EMLReader{dir: filepath.Dir(dir), prefix: keyPrefix, names: []string{filepath.Base(dir)}}, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, &Problem{Path: dir, Err: err}
	}
	r := &EMLReader{dir: dir, prefix: keyPrefix}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !strings.EqualFold(filepath.Ext(e.Name()), ".eml") || e.IsDir() {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			continue // never followed; Discover names it in a warning
		}
		r.names = append(r.names, e.Name())
	}
	slices.Sort(r.names)
	return r, nil
}

// Count is the number of .eml files listed.
func (r *EMLReader) Count() int { return len(r.names) }

// Next opens the next file.
func (r *EMLReader) Next() (*Message, error) {
	if r.open != nil {
		r.open.Close()
		r.open = nil
	}
	if r.i >= len(r.names) {
		return nil, io.EOF
	}
	name := r.names[r.i]
	r.i++
	path := filepath.Join(r.dir, name)
	safe, _ := SafeName(name)
	m := &Message{Path: path, Key: r.prefix + "/" + safe}
	f, err := openNoFollow(path)
	if errors.Is(err, ErrLink) {
		return nil, linkProblem(path, "")
	}
	if err != nil {
		return nil, &Problem{Path: path, Key: m.Key, Err: err}
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, &Problem{Path: path, Key: m.Key, Err: err}
	}
	r.open = f
	m.Body, m.Size, m.Date = f, st.Size(), st.ModTime()
	return m, nil
}

// Close closes the last file.
func (r *EMLReader) Close() error {
	if r.open != nil {
		r.open.Close()
		r.open = nil
	}
	return nil
}
