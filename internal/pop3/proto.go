package pop3

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds a status or listing line (RFC 2449 allows 512 octets
// for a response line; this is generous and still stops a runaway server).
const maxLine = 64 << 10

// readLine reads one status or listing line and returns it without its
// line ending. The slice is valid until the next read.
func (c *Client) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(buf) <= maxLine {
			line, err = c.br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
		if err == nil && len(buf) > maxLine {
			err = bufio.ErrBufferFull
		}
		if err == bufio.ErrBufferFull {
			return nil, c.fail(fmt.Errorf("%w: line longer than %d bytes", errProtocol, maxLine))
		}
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, c.fail(err)
	}
	return trimEOL(line), nil
}

func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// parseStatus splits "+OK text" or "-ERR text".
func parseStatus(line []byte) (ok bool, text string, err error) {
	word, rest, _ := bytes.Cut(line, []byte(" "))
	switch {
	case bytes.EqualFold(word, []byte("+OK")):
		ok = true
	case bytes.EqualFold(word, []byte("-ERR")):
	default:
		return false, "", fmt.Errorf("%w: status line %q", errProtocol, truncate(line, 80))
	}
	return ok, string(rest), nil
}

// newError builds an *Error from the text after -ERR, splitting off a
// bracketed response code (RFC 2449 section 8).
func newError(cmd, text string) *Error {
	e := &Error{Cmd: cmd, Text: text}
	if strings.HasPrefix(text, "[") {
		if i := strings.IndexByte(text, ']'); i > 0 {
			e.Code = text[1:i]
			e.Text = strings.TrimSpace(text[i+1:])
		}
	}
	return e
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// validArg reports whether s can be put on a command line.
func validArg(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// send buffers one command line. traceLine, if not empty, replaces the
// line in the trace (to redact secrets).
func (c *Client) send(line, traceLine string) error {
	if !validArg(line) {
		return ErrBadChars // callers validate first; this is a last guard
	}
	if c.trace != nil {
		if traceLine == "" {
			traceLine = line
		}
		fmt.Fprintf(c.trace, "C: %s\n", traceLine)
	}
	c.bw.WriteString(line)
	if _, err := c.bw.WriteString("\r\n"); err != nil {
		return c.fail(err)
	}
	return nil
}

func (c *Client) flush() error {
	if err := c.bw.Flush(); err != nil {
		return c.fail(err)
	}
	return nil
}

// status reads a status line. A -ERR becomes *Error naming cmd.
func (c *Client) status(cmd string) (string, error) {
	line, err := c.readLine()
	if err != nil {
		return "", err
	}
	c.traceS(line)
	ok, text, err := parseStatus(line)
	if err != nil {
		return "", c.fail(err)
	}
	if !ok {
		return "", newError(cmd, text)
	}
	return text, nil
}

func (c *Client) traceS(line []byte) {
	if c.trace != nil {
		fmt.Fprintf(c.trace, "S: %s\n", line)
	}
}

// cmd sends one command without secrets and reads its status line.
func (c *Client) cmd(line string) (string, error) {
	if err := c.send(line, ""); err != nil {
		return "", err
	}
	if err := c.flush(); err != nil {
		return "", err
	}
	return c.status(line)
}

// multi sends a command whose +OK is followed by dot-terminated lines
// (CAPA, LIST, UIDL) and calls fn for each, unstuffed, without its line
// ending. The whole listing is read even when fn fails.
func (c *Client) multi(line string, fn func(line []byte) error) error {
	if _, err := c.cmd(line); err != nil {
		return err
	}
	var ferr error
	for {
		l, err := c.readLine()
		if err != nil {
			return err
		}
		c.traceS(l)
		if len(l) > 0 && l[0] == '.' {
			if len(l) == 1 {
				return ferr
			}
			l = l[1:]
		}
		if ferr == nil {
			ferr = fn(l)
		}
	}
}
