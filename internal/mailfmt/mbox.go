package mailfmt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MboxWriter writes one mboxrd file per folder: DIR/INBOX.mbox,
// DIR/Archive/2019.mbox. Each message is a From_ line with the envelope
// sender and the INTERNALDATE (asctime, UTC), then the message with every
// line matching /^>*From / given one more '>', then "\n". A message that
// ends in a newline is thus followed by an empty line, as mboxrd wants;
// one that does not gets only the newline that ends its last line, so
// that a reader that drops the last "\n" before each From_ line (as
// MboxReader does) gets the exact bytes back.
//
// A file is written under a temporary name (".NAME.mbox.tmp") and renamed
// into place by Close, once complete and synced.
type MboxWriter struct {
	dir   string
	cur   *mboxFile
	done  map[string]bool // final paths already finished
	names *Namer
	br    *bufio.Reader
	bw    *bufio.Writer
}

type mboxFile struct {
	final, tmp string
	f          *os.File
	off        int64
}

// NewMboxWriter returns a writer of mboxrd files under dir.
func NewMboxWriter(dir string) *MboxWriter {
	return &MboxWriter{dir: dir, done: map[string]bool{}, names: NewNamer(Mbox, dir),
		br: bufio.NewReaderSize(nil, 64<<10), bw: bufio.NewWriterSize(nil, 256<<10)}
}

// MboxPath is the file a folder's messages go into, relative to the
// export directory: levels escaped for the file system (names.go),
// ".mbox" added. It names one folder on its own; an export names all of
// its folders through one Namer, which keeps them apart.
func MboxPath(folder Folder) string { return NewNamer(Mbox, "").Path(folder) }

// Names is the writer's Namer: Plan the export's folders with it first.
func (w *MboxWriter) Names() *Namer { return w.names }

func (w *MboxWriter) open(folder Folder) (*mboxFile, error) {
	rel, err := w.names.path(folder)
	if err != nil {
		return nil, err
	}
	final := filepath.Join(w.dir, rel)
	if w.cur != nil && w.cur.final == final {
		return w.cur, nil
	}
	if w.cur != nil {
		if err := w.cur.finish(); err != nil {
			w.cur = nil
			return nil, err
		}
		w.done[w.cur.final] = true
		w.cur = nil
	}
	if _, err := mkdirUnder(w.dir, filepath.Dir(rel)); err != nil {
		return nil, err
	}
	m := &mboxFile{final: final, tmp: filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+".tmp")}
	flags := os.O_RDWR | os.O_CREATE | os.O_EXCL
	os.Remove(m.tmp) // left by a run that was killed (or planted: a link is removed, not followed)
	if w.done[final] {
		// The folder comes back after another one (the caller's order
		// was not by folder): take the finished file back under the
		// temporary name and go on appending, so that the final name
		// never shows a file being written.
		if err := os.Rename(final, m.tmp); err != nil {
			return nil, err
		}
		flags = os.O_RDWR
		delete(w.done, final)
	}
	f, err := os.OpenFile(m.tmp, flags|oNoFollow, 0o600)
	if err != nil {
		return nil, err
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.f, m.off = f, off
	w.cur = m
	return m, nil
}

// Add appends one message to its folder's file.
func (w *MboxWriter) Add(folder Folder, m *Message) (string, error) {
	mf, err := w.open(folder)
	if err != nil {
		return "", fmt.Errorf("mbox for %s: %w", folder.Name, err)
	}
	n, err := w.write(mf, m)
	if err != nil {
		// Cut the file back to where the message began.
		w.bw.Reset(nil)
		if terr := mf.f.Truncate(mf.off); terr != nil {
			err = errors.Join(err, terr)
		}
		return "", fmt.Errorf("%s: %w", mf.final, err)
	}
	mf.off += n
	return mf.final, nil
}

func (w *MboxWriter) write(mf *mboxFile, m *Message) (int64, error) {
	w.br.Reset(m.Body)
	defer w.br.Reset(nil)
	w.bw.Reset(io.NewOffsetWriter(mf.f, mf.off))
	n, err := encodeMbox(w.bw, w.br, m)
	if err == nil {
		err = w.bw.Flush()
	}
	return n, err
}

// WriteMboxMessage writes one message in mboxrd form (From_ line, quoted
// body, separator) to w, as MboxWriter does.
func WriteMboxMessage(w io.Writer, m *Message) (int64, error) {
	bw := bufio.NewWriter(w)
	n, err := encodeMbox(bw, bufio.NewReaderSize(m.Body, 64<<10), m)
	if err == nil {
		err = bw.Flush()
	}
	return n, err
}

func encodeMbox(bw *bufio.Writer, br *bufio.Reader, m *Message) (int64, error) {
	sender := m.Sender
	if sender == "" || strings.ContainsAny(sender, " \t\r\n") {
		head, _ := br.Peek(64 << 10)
		sender = EnvelopeSender(head)
	}
	cw := &countWriter{w: bw}
	if _, err := cw.Write(fromLine(sender, m.Date)); err != nil {
		return 0, err
	}
	q := &fromQuoter{w: cw, atStart: true}
	body, err := io.Copy(q, br)
	if err == nil {
		err = q.flush()
	}
	if err != nil {
		return 0, err
	}
	if m.Size >= 0 && body != m.Size {
		return 0, fmt.Errorf("message is %d bytes, expected %d", body, m.Size)
	}
	if _, err := cw.Write([]byte{'\n'}); err != nil {
		return 0, err
	}
	return cw.n, nil
}

func (m *mboxFile) finish() error {
	err := m.f.Sync()
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(m.tmp, m.final)
	}
	if err == nil {
		err = syncDir(filepath.Dir(m.final))
	}
	if err != nil {
		os.Remove(m.tmp)
		return fmt.Errorf("finish %s: %w", m.final, err)
	}
	return nil
}

// Close finishes the file being written.
func (w *MboxWriter) Close() error {
	if w.cur == nil {
		return nil
	}
	err := w.cur.finish()
	w.done[w.cur.final] = true
	w.cur = nil
	return err
}

// Abort removes the file being written; files already finished stay.
func (w *MboxWriter) Abort() {
	if w.cur != nil {
		w.cur.f.Close()
		os.Remove(w.cur.tmp)
		w.cur = nil
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// fromQuoter adds one '>' to every line matching /^>*From /, streaming,
// in constant memory: at the start of a line it counts '>' and matches
// "From " before deciding what to write.
type fromQuoter struct {
	w       io.Writer
	atStart bool
	gt      int // '>' seen at the start of the current line
	matched int // bytes of "From " matched after them
	buf     []byte
}

const fromPrefix = "From "

func (q *fromQuoter) Write(p []byte) (int, error) {
	q.buf = q.buf[:0]
	for _, c := range p {
		if !q.atStart {
			q.buf = append(q.buf, c)
			if c == '\n' {
				q.atStart = true
			}
			continue
		}
		switch {
		case q.matched == 0 && c == '>':
			q.gt++
			continue
		case c == fromPrefix[q.matched]:
			q.matched++
			if q.matched == len(fromPrefix) {
				q.buf = append(q.buf, '>')
				q.buf = q.appendPending(q.buf)
				q.atStart = false
			}
			continue
		}
		q.buf = q.appendPending(q.buf)
		q.buf = append(q.buf, c)
		q.atStart = c == '\n'
		if len(q.buf) >= 32<<10 {
			if _, err := q.w.Write(q.buf); err != nil {
				return 0, err
			}
			q.buf = q.buf[:0]
		}
	}
	if _, err := q.w.Write(q.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// appendPending writes out the held-back '>'s and matched part of "From ".
func (q *fromQuoter) appendPending(b []byte) []byte {
	for ; q.gt > 0; q.gt-- {
		b = append(b, '>')
	}
	b = append(b, fromPrefix[:q.matched]...)
	q.matched = 0
	return b
}

// flush writes what is held back at the end of the message.
func (q *fromQuoter) flush() error {
	b := q.appendPending(nil)
	if len(b) == 0 {
		return nil
	}
	_, err := q.w.Write(b)
	return err
}

// syncDir makes a rename durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !strings.Contains(err.Error(), "invalid argument") {
		return err
	}
	return nil
}
