package pop3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// MsgInfo is one line of LIST: a message number and its size in octets
// as the server reports it (RFC 1939 section 5). Compare it with the
// count Retr returns; servers that store bare LF often report the size
// on disk rather than what they send.
type MsgInfo struct {
	Num  int
	Size int64
}

// UIDInfo is one line of UIDL. UIDs are returned as the server sent
// them; duplicates are possible with broken servers and are not removed.
type UIDInfo struct {
	Num int
	UID string
}

// Stat returns the number of messages and their total size (STAT).
func (c *Client) Stat(ctx context.Context) (count int, size int64, err error) {
	err = c.do(ctx, "STAT", func() error {
		text, err := c.cmd("STAT")
		if err != nil {
			return err
		}
		f := strings.Fields(text)
		if len(f) < 2 {
			return fmt.Errorf("%w: STAT reply %q", errProtocol, text)
		}
		count, err = strconv.Atoi(f[0])
		if err == nil {
			size, err = strconv.ParseInt(f[1], 10, 64)
		}
		if err != nil || count < 0 || size < 0 {
			return fmt.Errorf("%w: STAT reply %q", errProtocol, text)
		}
		return nil
	})
	return count, size, err
}

// List returns number and size of every message not marked deleted.
func (c *Client) List(ctx context.Context) ([]MsgInfo, error) {
	var out []MsgInfo
	err := c.do(ctx, "LIST", func() error {
		return c.multi("LIST", func(line []byte) error {
			m, err := parseList(string(line))
			out = append(out, m)
			return err
		})
	})
	return out, err
}

// ListOne returns the size of one message (LIST n).
func (c *Client) ListOne(ctx context.Context, num int) (MsgInfo, error) {
	var m MsgInfo
	line := "LIST " + strconv.Itoa(num)
	err := c.do(ctx, line, func() error {
		text, err := c.cmd(line)
		if err != nil {
			return err
		}
		m, err = parseList(text)
		return err
	})
	return m, err
}

func parseList(s string) (MsgInfo, error) {
	f := strings.Fields(s)
	if len(f) >= 2 {
		n, err1 := strconv.Atoi(f[0])
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil && n > 0 && size >= 0 {
			return MsgInfo{Num: n, Size: size}, nil
		}
	}
	return MsgInfo{}, fmt.Errorf("%w: LIST line %q", errProtocol, s)
}

// UIDL returns the unique id of every message not marked deleted. A
// server without UIDL gives an error satisfying errors.Is(err, ErrNoUIDL).
func (c *Client) UIDL(ctx context.Context) ([]UIDInfo, error) {
	if c.caps != nil && !c.HasCap("UIDL") {
		return nil, ErrNoUIDL
	}
	var out []UIDInfo
	err := c.do(ctx, "UIDL", func() error {
		return c.multi("UIDL", func(line []byte) error {
			u, err := parseUIDL(string(line))
			out = append(out, u)
			return err
		})
	})
	return out, c.noUIDL(err)
}

// UIDLOne returns the unique id of one message (UIDL n).
func (c *Client) UIDLOne(ctx context.Context, num int) (UIDInfo, error) {
	if c.caps != nil && !c.HasCap("UIDL") {
		return UIDInfo{}, ErrNoUIDL
	}
	var u UIDInfo
	line := "UIDL " + strconv.Itoa(num)
	err := c.do(ctx, line, func() error {
		text, err := c.cmd(line)
		if err != nil {
			return err
		}
		u, err = parseUIDL(text)
		return err
	})
	return u, c.noUIDL(err)
}

// noUIDL turns a plain -ERR into ErrNoUIDL when the server has no CAPA
// to tell us beforehand. A -ERR with a response code (SYS/TEMP, ...)
// is about something else and stays as it is.
func (c *Client) noUIDL(err error) error {
	var pe *Error
	if c.caps == nil && errors.As(err, &pe) && pe.Code == "" && !strings.HasPrefix(pe.Cmd, "UIDL ") {
		return fmt.Errorf("%w: %w", ErrNoUIDL, err)
	}
	return err
}

func parseUIDL(s string) (UIDInfo, error) {
	f := strings.Fields(s)
	if len(f) >= 2 {
		n, err := strconv.Atoi(f[0])
		if err == nil && n > 0 {
			return UIDInfo{Num: n, UID: f[1]}, nil
		}
	}
	return UIDInfo{}, fmt.Errorf("%w: UIDL line %q", errProtocol, s)
}

// Dele marks message num as deleted. Nothing is removed until Quit
// succeeds: closing the connection any other way, or Rset, undoes all
// marks (RFC 1939 section 6).
func (c *Client) Dele(ctx context.Context, num int) error {
	line := "DELE " + strconv.Itoa(num)
	return c.do(ctx, line, func() error {
		_, err := c.cmd(line)
		return err
	})
}

// Rset unmarks every message marked deleted in this session.
func (c *Client) Rset(ctx context.Context) error {
	return c.do(ctx, "RSET", func() error {
		_, err := c.cmd("RSET")
		return err
	})
}

// Noop asks the server for a +OK; useful to keep a connection alive or
// test it.
func (c *Client) Noop(ctx context.Context) error {
	return c.do(ctx, "NOOP", func() error {
		_, err := c.cmd("NOOP")
		return err
	})
}

// Quit ends the session and closes the connection. Only a nil result
// means the server answered +OK and so committed the deletions
// (RFC 1939 section 6, UPDATE state). Any other outcome, a -ERR, a lost
// connection, a timeout, returns an error satisfying
// errors.Is(err, ErrQuitUnconfirmed): treat every DELE as not done.
func (c *Client) Quit(ctx context.Context) error {
	if c.closed {
		return fmt.Errorf("%w: %w", ErrQuitUnconfirmed, net.ErrClosed)
	}
	err := c.do(ctx, "QUIT", func() error {
		_, err := c.cmd("QUIT")
		return err
	})
	c.Close()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrQuitUnconfirmed, err)
	}
	return nil
}
