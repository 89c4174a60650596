package pop3

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// dotReader yields the body of a multi-line response, byte-exact: at the
// start of a line ".\r\n" (or ".\n", from bare-LF servers) ends it, one
// leading "." is dropped (RFC 1939 section 3), every other byte passes
// unchanged. Lines are split only on LF; a line longer than the buffer
// arrives in pieces (bufio.ErrBufferFull) and only its first piece is a
// line start.
type dotReader struct {
	br      *bufio.Reader
	bol     bool   // next byte starts a line
	done    bool   // terminator seen
	err     error  // sticky read error
	pending []byte // rest of the current piece, not yet returned by Read
	n       int64  // bytes yielded
	fail    func(error) error
}

func newDotReader(br *bufio.Reader, fail func(error) error) *dotReader {
	return &dotReader{br: br, bol: true, fail: fail}
}

// errCutShort wraps the read error of a message that ended before its
// terminator: the bytes so far are not the message.
var errCutShort = errors.New("message cut short")

// next returns the next piece of the body, valid until the next call.
func (d *dotReader) next() ([]byte, error) {
	if len(d.pending) > 0 {
		p := d.pending
		d.pending = nil
		return p, nil
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.done {
		return nil, io.EOF
	}
	line, err := d.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		d.err = fmt.Errorf("%w after %d bytes: %w", errCutShort, d.n, err)
		if d.fail != nil {
			d.fail(d.err)
		}
		return nil, d.err
	}
	if d.bol && line[0] == '.' {
		// A complete line (err == nil) of 2 or 3 bytes starting with "."
		// can only be ".\n" or ".\r\n".
		if err == nil && (len(line) == 2 || len(line) == 3 && line[1] == '\r') {
			d.done = true
			return nil, io.EOF
		}
		line = line[1:]
	}
	d.bol = err == nil
	d.n += int64(len(line))
	return line, nil
}

func (d *dotReader) Read(p []byte) (int, error) {
	piece, err := d.next()
	if err != nil {
		return 0, err
	}
	n := copy(p, piece)
	if n < len(piece) {
		d.pending = piece[n:]
	}
	return n, nil
}

// WriteTo copies the rest of the body to w without an extra copy. On a
// write error the rest of the body is still read (and discarded) so the
// connection stays usable; the write error is returned.
func (d *dotReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		piece, err := d.next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		m, werr := w.Write(piece)
		n += int64(m)
		if werr == nil && m < len(piece) {
			werr = io.ErrShortWrite
		}
		if werr != nil {
			if derr := d.drain(); derr != nil {
				return n, derr
			}
			return n, fmt.Errorf("write message: %w", werr)
		}
	}
}

// drain reads and discards the rest of the body.
func (d *dotReader) drain() error {
	for {
		_, err := d.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Retr streams message num into w and returns the number of bytes
// written: the message exactly as the server holds it, without the
// dot-stuffing. On any error the bytes already written are not the whole
// message and must be discarded. If w fails, the rest of the message is
// read and discarded, and the session stays usable.
func (c *Client) Retr(ctx context.Context, num int, w io.Writer) (int64, error) {
	return c.stream(ctx, "RETR "+strconv.Itoa(num), w)
}

// Top streams the headers of message num, the blank line and the first
// lines lines of its body into w (TOP, RFC 1939 section 7).
func (c *Client) Top(ctx context.Context, num, lines int, w io.Writer) (int64, error) {
	if lines < 0 {
		return 0, fmt.Errorf("pop3 TOP %d: negative line count %d", num, lines)
	}
	return c.stream(ctx, "TOP "+strconv.Itoa(num)+" "+strconv.Itoa(lines), w)
}

func (c *Client) stream(ctx context.Context, line string, w io.Writer) (int64, error) {
	var n int64
	err := c.do(ctx, line, func() error {
		if _, err := c.cmd(line); err != nil {
			return err
		}
		d := newDotReader(c.br, c.fail)
		var err error
		n, err = d.WriteTo(w)
		c.traceBody(d)
		return err
	})
	return n, err
}

func (c *Client) traceBody(d *dotReader) {
	if c.trace != nil {
		fmt.Fprintf(c.trace, "S: <%d bytes of message data>\n", d.n)
		if d.done {
			fmt.Fprintf(c.trace, "S: .\n")
		}
	}
}
