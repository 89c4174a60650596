package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// pipelineWindow is how many commands may be in flight. RETR and DELE
// lines are short, so the window fits in any socket buffer and the
// server's replies cannot deadlock against our writes (RFC 2449 6.6).
const pipelineWindow = 64

// RetrFunc receives each message of RetrMany. err is non-nil only when
// the server refused this one message (an *Error, r is nil); the session
// goes on. Otherwise fn should read r to the end; whatever it leaves is
// read and discarded. Returning an error stops RetrMany, which returns
// that error once the commands already sent have been answered.
type RetrFunc func(num int, r io.Reader, err error) error

// RetrMany retrieves the messages nums in order. With PIPELINING it keeps
// up to 64 RETR commands in flight, so many small messages do not each
// cost a round trip; without it, it sends them one at a time. Bodies are
// byte-exact as with Retr. A network error ends RetrMany with that error
// (the client is then broken); the message being read when it happened
// must be discarded by fn, which sees the error from r.Read.
func (c *Client) RetrMany(ctx context.Context, nums []int, fn RetrFunc) error {
	var userErr error
	err := c.pipeline(ctx, "RETR", nums, func(num int, ok bool, serr error) error {
		if !ok {
			if userErr == nil {
				if ferr := fn(num, nil, serr); ferr != nil {
					userErr = ferr
				}
			}
			return nil
		}
		d := newDotReader(c.br, c.fail)
		if userErr == nil {
			if ferr := fn(num, d, nil); ferr != nil {
				userErr = ferr
			}
		}
		if d.err == nil {
			d.drain()
		}
		c.traceBody(d)
		return d.err
	}, func() bool { return userErr != nil })
	if err != nil {
		return err
	}
	return userErr
}

// DeleMany marks the messages nums deleted, pipelined when the server
// allows it. Refusals of single messages are collected (errors.Join of
// *Error values naming "DELE n") while the rest go on. As with Dele,
// nothing is removed until Quit returns nil.
func (c *Client) DeleMany(ctx context.Context, nums []int) error {
	var errs []error
	err := c.pipeline(ctx, "DELE", nums, func(num int, ok bool, serr error) error {
		if !ok {
			errs = append(errs, serr)
		}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// pipeline sends "verb n" for each n in nums, keeping up to
// pipelineWindow in flight when the server offers PIPELINING, and calls
// handle for each reply in order (ok false: serr is the server's -ERR).
// handle must consume a +OK reply's body, if any. Once stop reports
// true, no further commands are sent; replies in flight are still read.
func (c *Client) pipeline(ctx context.Context, verb string, nums []int,
	handle func(num int, ok bool, serr error) error, stop func() bool) error {
	for _, n := range nums {
		if n < 1 {
			return fmt.Errorf("pop3 %s: invalid message number %d", verb, n)
		}
	}
	window := 1
	if c.HasCap("PIPELINING") {
		window = pipelineWindow
	}
	return c.do(ctx, verb, func() error {
		sent := 0
		for i := 0; i < len(nums); i++ {
			stopped := stop != nil && stop()
			if stopped && i >= sent {
				return nil
			}
			if !stopped && sent < len(nums) && sent-i <= window/2 {
				for sent < len(nums) && sent-i < window {
					if err := c.send(verb+" "+strconv.Itoa(nums[sent]), ""); err != nil {
						return err
					}
					sent++
				}
				if err := c.flush(); err != nil {
					return err
				}
			}
			_, serr := c.status(verb + " " + strconv.Itoa(nums[i]))
			var pe *Error
			if serr != nil && !errors.As(serr, &pe) {
				return serr
			}
			if err := handle(nums[i], serr == nil, serr); err != nil {
				return err
			}
		}
		return nil
	})
}
