package imapconn

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Session is one logical connection to an account that survives
// reconnects: Do runs an operation on a live connection and, after a
// transient failure (a dropped connection, a timeout, the server going
// away), dials again after a back-off and runs it again, within a budget
// of reconnects shared by all of the session's operations.
//
//	s := &imapconn.Session{Dial: dial, Retries: 5, Backoff: time.Second}
//	defer s.Close()
//	err := s.Do(ctx, "back up INBOX", func(c *imapconn.Conn) error { ... })
//
// A failed dial is an error of the operation, never a nil connection.
type Session struct {
	Dial func(ctx context.Context) (*Conn, error)
	// Retries is how many reconnects the session may make; 0 or less
	// means none.
	Retries int
	// Backoff is the first wait before a reconnect, doubled each time
	// (at most a minute); 0 means 1s.
	Backoff time.Duration
	// Stop, if set, names errors never worth a reconnect, however they
	// look (an archive that cannot be written).
	Stop func(error) bool
	// OnRetry, if set, hears of each reconnect before its wait.
	OnRetry func(what string, err error, wait time.Duration, attempt, max int)
	// Sleep replaces the back-off wait (tests); nil waits on a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	conn    *Conn
	retries int
	backoff time.Duration
}

// Conn returns the live connection, dialling if there is none or it broke.
func (s *Session) Conn(ctx context.Context) (*Conn, error) {
	if s.conn != nil && !s.conn.Broken() {
		return s.conn, nil
	}
	s.Drop()
	c, err := s.Dial(ctx)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, &Error{Op: "dial", Err: fmt.Errorf("no connection")}
	}
	s.conn = c
	return c, nil
}

// Current is the connection of the last Conn or Do, possibly broken, or
// nil.
func (s *Session) Current() *Conn { return s.conn }

// Drop closes the connection; the next Conn or Do dials again.
func (s *Session) Drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection.
func (s *Session) Close() { s.Drop() }

// Reconnects is how many reconnects the session has made.
func (s *Session) Reconnects() int { return s.retries }

// Do runs fn on a live connection, reconnecting and running it again
// after a transient failure. fn must be safe to run again.
func (s *Session) Do(ctx context.Context, what string, fn func(c *Conn) error) error {
	for {
		c, err := s.Conn(ctx)
		if err == nil {
			err = c.Err(fn(c))
			if err == nil {
				return nil
			}
		} else if Permanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.Stop != nil && s.Stop(err) {
			return err
		}
		if c != nil && !c.Broken() && !Transient(err) {
			return err // the server answered: a retry gets the same answer
		}
		var le *LimitError
		if errors.As(err, &le) {
			return err // the same response would break the next connection too
		}
		if s.retries >= s.Retries {
			if s.Retries <= 0 {
				return err
			}
			return fmt.Errorf("%s: giving up after %d reconnects: %w", what, s.retries, err)
		}
		s.retries++
		if s.backoff == 0 {
			s.backoff = s.Backoff
			if s.backoff <= 0 {
				s.backoff = time.Second
			}
		}
		wait := s.backoff
		s.backoff = min(2*s.backoff, time.Minute)
		if s.OnRetry != nil {
			s.OnRetry(what, err, wait, s.retries, s.Retries)
		}
		s.Drop()
		if err := s.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (s *Session) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
