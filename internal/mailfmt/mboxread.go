package mailfmt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MboxOptions choose how an mbox file is read.
type MboxOptions struct {
	// MboxO reads the original mbox variant: only ">From " loses its
	// '>'; ">>From " stays. The default, mboxrd, takes one '>' off every
	// line matching /^>+From /.
	//
	// The two differ only on lines ">>From ", ">>>From ", ...: an mboxo
	// writer leaves them alone and an mboxrd writer adds a '>'. Neither
	// reading is exact for mboxo files, whatever the reader does: mboxo
	// writes both "From " and ">From " in a message as ">From ", so which
	// one it was is lost. Reading as mboxrd gives the exact bytes for
	// mboxrd files and for every mboxo file whose messages hold no line
	// starting with ">From ", which is why it is the default.
	MboxO bool
	// QuoteNoSpace takes the '>' off lines matching /^>+From/ without
	// the space (imap-backup before its metadata version 3.1 quoted so).
	QuoteNoSpace bool
	// Single reads the whole input as one message: no From_ line but the
	// first separates anything (imap-backup's indexed messages).
	Single bool
}

// MboxReader reads the messages of an mbox file one at a time, streaming:
// a message's Body reads straight from the file, so a 200 MB message is
// never held in memory.
//
// A message runs from its From_ line to the next line that starts with
// "From " and looks like a From_ line (sender, time of day and year;
// see looksLikeFromLine), or to the end of the file. The "\n" before
// that line (or the last one in the file) belongs to the separator and
// is dropped; lines matching /^>+From / lose one '>' (mboxrd). Problems
// are *Problem errors naming the file and line.
type MboxReader struct {
	path    string
	opts    MboxOptions
	f       io.Closer
	br      *bufio.Reader
	line    int    // number of the line being read
	next    []byte // the From_ line of the next message
	nextAt  int    // its line number
	cur     *mboxBody
	started bool
	failed  bool
}

// OpenMbox opens an mbox file.
func OpenMbox(path string, opts MboxOptions) (*MboxReader, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, &Problem{Path: path, Err: err}
	}
	r := NewMboxReader(f, path, opts)
	r.f = f
	return r, nil
}

// NewMboxReader reads an mbox from src; name is used in errors.
func NewMboxReader(src io.Reader, name string, opts MboxOptions) *MboxReader {
	return &MboxReader{path: name, opts: opts, br: bufio.NewReaderSize(src, 64<<10)}
}

// Close closes the file.
func (r *MboxReader) Close() error {
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

func (r *MboxReader) problem(line int, err error) error {
	return &Problem{Path: r.path, Line: line, Err: err}
}

// Next returns the next message. After a *Problem about the file as a
// whole (not an mbox, unreadable) it returns io.EOF.
func (r *MboxReader) Next() (*Message, error) {
	if r.failed {
		return nil, io.EOF
	}
	if r.cur != nil {
		// Skip what the caller did not read of the previous message.
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				r.failed = true
				return nil, err
			}
		}
		r.cur = nil
	}
	if !r.started {
		r.started = true
		if err := r.first(); err != nil {
			r.failed = true
			return nil, err
		}
	}
	if r.next == nil {
		return nil, io.EOF
	}
	sender, date := parseFromLine(r.next)
	m := &Message{Size: -1, Sender: sender, Date: date, Path: r.path, Line: r.nextAt}
	r.cur = &mboxBody{r: r, start: r.nextAt, atStart: true}
	r.next = nil
	m.Body = r.cur
	return m, nil
}

// first reads the first From_ line, skipping empty lines before it.
func (r *MboxReader) first() error {
	for {
		line, err := r.br.ReadSlice('\n')
		if len(line) == 0 && err == io.EOF {
			return nil // an empty file is an empty mbox
		}
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return r.problem(r.line+1, err)
		}
		r.line++
		if len(bytes.TrimRight(line, "\r\n")) == 0 && err == nil {
			continue
		}
		if !bytes.HasPrefix(line, []byte("From ")) {
			return r.problem(r.line, fmt.Errorf("not an mbox file: the first line does not start with \"From \""))
		}
		r.next = append([]byte(nil), line...)
		r.nextAt = r.line
		for err == bufio.ErrBufferFull { // an absurdly long From_ line: skip the rest
			_, err = r.br.ReadSlice('\n')
		}
		return nil
	}
}

// mboxBody is the Body of one message.
type mboxBody struct {
	r       *MboxReader
	start   int    // line of the From_ line
	pre     []byte // "\n" held back from the previous line, to emit first
	pending []byte // bytes ready to be read
	holdLF  bool   // the last complete line's "\n" is held back
	atStart bool   // the next read begins a line
	done    bool
	err     error
}

var lf = []byte{'\n'}

func (b *mboxBody) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(b.pre) > 0:
			c := copy(p[n:], b.pre)
			b.pre = b.pre[c:]
			n += c
		case len(b.pending) > 0:
			c := copy(p[n:], b.pending)
			b.pending = b.pending[c:]
			n += c
		case b.done:
			if n > 0 {
				return n, nil
			}
			return 0, b.err
		default:
			b.fill()
		}
	}
	return n, nil
}

// fill reads the next piece of the message: a line, or up to the
// reader's buffer of a long one.
func (b *mboxBody) fill() {
	r := b.r
	line, err := r.br.ReadSlice('\n')
	if len(line) == 0 && err == io.EOF {
		b.done, b.err = true, io.EOF
		if !b.atStart {
			// The last line has no newline: mbox files end with one, so
			// this one was cut short.
			b.err = r.problem(r.line, fmt.Errorf("message from line %d: %w", b.start, ErrTruncated))
		}
		return // a held-back "\n" is the final separator: dropped
	}
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		b.done, b.err = true, r.problem(r.line, err)
		return
	}
	if b.atStart {
		r.line++
		if !r.opts.Single && err == nil && looksLikeFromLine(line) {
			r.next = append(r.next[:0], line...)
			r.nextAt = r.line
			b.done, b.err = true, io.EOF
			return
		}
		line = r.unquote(line)
	}
	if b.holdLF {
		b.pre = lf
		b.holdLF = false
	}
	if err == nil { // a complete line: hold its "\n" back
		b.pending = line[:len(line)-1]
		b.holdLF = true
		b.atStart = true
		return
	}
	b.pending = line
	b.atStart = false
}

// unquote takes one '>' off a quoted From line.
func (r *MboxReader) unquote(line []byte) []byte {
	if len(line) < 2 || line[0] != '>' {
		return line
	}
	rest := line[1:]
	if !r.opts.MboxO {
		rest = bytes.TrimLeft(rest, ">")
	}
	want := []byte("From ")
	if r.opts.QuoteNoSpace {
		want = want[:4]
	}
	if bytes.HasPrefix(rest, want) {
		return line[1:]
	}
	return line
}
