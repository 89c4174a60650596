package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mailkeep/mailkeep/internal/imapconn"
)

// slot is the planner's go-imap connection, re-dialled when it breaks.
type slot struct {
	mu   sync.Mutex
	dial func(ctx context.Context) (*imapconn.Conn, error)
	c    *imapconn.Conn
}

// get returns a live connection, dialling if needed.
func (s *slot) get(ctx context.Context) (*imapconn.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil && !s.c.Broken() {
		return s.c, nil
	}
	if s.c != nil {
		closeConn(s.c)
		s.c = nil
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	// The planner sends no APPEND, but no literal of ours is ever sent
	// without the server's go-ahead.
	if err := syncLiterals(c.Client); err != nil {
		c.Close()
		return nil, &imapconn.Error{Op: "prepare connection", Err: err, Permanent: true}
	}
	s.c = c
	return c, nil
}

// drop closes the connection; the next get dials again.
func (s *slot) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		closeConn(s.c)
		s.c = nil
	}
}

// closeConn logs out and closes, but never waits long: a LOGOUT sent on a
// client whose connection has just died may never be answered, and go-imap
// has been seen to wait forever then (LIBRARIES.md).
func closeConn(c *imapconn.Conn) {
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Client.Close()
	}
}

// job is one message to APPEND.
type job struct {
	tf      *tfolder
	p       *place
	created bool // the folder was created again after TRYCREATE
	single  bool // APPEND it alone: a MULTIAPPEND with it was refused as a whole
}

// result is what became of a job.
type result struct {
	j        *job
	kind     errKind
	uid      uint32 // from APPENDUID, 0 without UIDPLUS
	uidv     uint32
	bytes    int64
	err      error
	dropped  []string
	repaired string // what RepairLineEndings changed, "" if nothing
	fatal    bool   // the target or the archive cannot be used at all
}

// batchSize is how many messages of one folder a worker takes at a time
// (and puts into one MULTIAPPEND); batchBytes bounds a MULTIAPPEND too.
// Measured on Dovecot with 26 KB messages: 16 a command gave 900 msg/s
// on one connection, 64 to 256 about 1,100, 1,000 fell back to 950.
const (
	batchSize  = 128
	batchBytes = 16 << 20
)

// worker APPENDs on its own connection (appendConn, not go-imap).
type worker struct {
	e *engine
	a *appendConn
}

func (w *worker) run(jobs <-chan []*job, results chan<- *result) {
	for batch := range jobs {
		w.appendBatch(batch, results)
	}
	if w.a != nil {
		w.a.close()
	}
}

func (w *worker) conn() (*appendConn, error) {
	if w.a != nil && !w.a.broken {
		return w.a, nil
	}
	if w.a != nil {
		w.a.close()
		w.a = nil
	}
	a, err := dialAppend(w.e.ctx, w.e.t.Login)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", w.e.t.Name, err)
	}
	w.a = a
	return a, nil
}

// appendBatch APPENDs jobs of one folder: in MULTIAPPEND commands where
// the server has them, else one by one.
func (w *worker) appendBatch(batch []*job, results chan<- *result) {
	e := w.e
	var rest []*job
	for _, j := range batch {
		if limit := e.appendLimit; limit > 0 && uint64(j.p.size) > limit {
			results <- &result{j: j, kind: errTooBig, err: fmt.Errorf("larger than the target's APPENDLIMIT of %d bytes", limit)}
			continue
		}
		rest = append(rest, j)
	}
	for len(rest) > 0 {
		if e.ctx.Err() != nil {
			for _, j := range rest {
				results <- &result{j: j, kind: errConn, err: e.ctx.Err()}
			}
			return
		}
		a, err := w.conn()
		if err != nil {
			for _, j := range rest {
				results <- &result{j: j, kind: errConn, err: err, fatal: imapconn.Permanent(err)}
			}
			return
		}
		n, bytes := 1, rest[0].p.size
		if a.has("MULTIAPPEND") && !e.o.RepairLineEndings && !rest[0].single {
			for n < len(rest) && n < batchSize && !rest[n].single && bytes+rest[n].p.size <= batchBytes {
				bytes += rest[n].p.size
				n++
			}
		}
		chunk := rest[:n]
		rest = rest[n:]
		for _, r := range w.sendChunk(a, chunk) {
			results <- r
		}
	}
}

// sendChunk sends one APPEND (MULTIAPPEND for several jobs) and says what
// became of each message.
func (w *worker) sendChunk(a *appendConn, chunk []*job) []*result {
	e := w.e
	tf := chunk[0].tf
	out := make([]*result, len(chunk))
	msgs := make([]outMsg, len(chunk))
	for i, j := range chunk {
		r := &result{j: j}
		out[i] = r
		flags, dropped := tf.policy.filter(j.p.flagList())
		r.dropped = dropped
		m := outMsg{flags: flags, date: j.p.appendDate(), size: j.p.size}
		if e.o.RepairLineEndings {
			body, size, note, err := e.messageBody(j.p)
			if err != nil {
				r.kind, r.err, r.fatal = errRefused, fmt.Errorf("read from the archive: %w", err), true
				out = out[:i+1]
				for _, j := range chunk[i+1:] {
					out = append(out, &result{j: j, kind: errRetry, err: err})
				}
				return out
			}
			r.repaired, m.size = note, size
			m.open = func() (io.ReadCloser, error) { return body, nil }
		} else {
			p := j.p
			m.open = func() (io.ReadCloser, error) {
				rc, _, _, err := e.messageBody(p)
				return rc, err
			}
		}
		r.bytes = m.size
		msgs[i] = m
	}
	res := a.appendMsgs(tf.name, msgs)
	set := func(r *result, k errKind, err error) { r.kind, r.err = k, err }
	switch {
	case res.err != nil && errors.Is(res.err, errArchive):
		for i, r := range out {
			if i == res.sent {
				r.kind, r.err, r.fatal = errRefused, res.err, true
			} else {
				set(r, errRetry, res.err)
			}
		}
	case res.err != nil:
		// The connection failed. Before the command was complete the
		// server stored nothing (a MULTIAPPEND is all or nothing, RFC 3502);
		// after, it may have stored all of it.
		k := errConn
		if res.complete {
			k = errUncertain
		}
		for _, r := range out {
			set(r, k, res.err)
		}
	case res.answer.kind == "OK":
		for i, r := range out {
			r.kind = errNone
			if len(res.uids) == len(out) {
				r.uid, r.uidv = res.uids[i], res.uidv
			}
		}
	default:
		err := res.answer.err()
		k := classify(appendOutcome{err: err, sent: res.complete})
		switch {
		case res.answer.kind == "BYE" && res.complete:
			k = errUncertain
		case res.answer.kind == "BYE":
			k = errThrottle
		}
		switch {
		case k == errThrottle || k == errTryCreate || k == errUncertain || len(out) == 1:
			// About the folder or the server, not one message.
			for _, r := range out {
				set(r, k, err)
			}
		case res.refused >= 0:
			// Refused before this message's body: the others were not
			// stored (all or nothing) and are sent again.
			for i, r := range out {
				if i == res.refused {
					set(r, k, err)
				} else {
					set(r, errRetry, err)
				}
			}
		default:
			// The whole MULTIAPPEND was refused after its last body (a
			// server that checks bodies, such as Cyrus with bare LF): send
			// them one by one to learn which.
			for _, r := range out {
				set(r, errRetry, err)
				r.j.single = true
			}
		}
	}
	for _, r := range out {
		if r.kind != errNone {
			r.bytes = 0
		}
	}
	return out
}

// messageBody opens the bytes to APPEND: the archived message, or with
// RepairLineEndings and bare LFs in it, a copy with CRLF line ends.
func (e *engine) messageBody(p *place) (io.ReadCloser, int64, string, error) {
	if !e.o.RepairLineEndings && p.size > bigMessage {
		rc, size, err := e.repo.OpenMessage(e.ctx, p.hash)
		return rc, size, "", err
	}
	raw, err := e.repo.ReadMessage(e.ctx, p.hash)
	if err != nil {
		return nil, 0, "", err
	}
	note := ""
	if e.o.RepairLineEndings {
		if fixed, n := crlf(raw); n > 0 {
			note = fmt.Sprintf("%d bare LF turned into CRLF (%d -> %d bytes)", n, len(raw), len(fixed))
			raw = fixed
		}
	}
	return io.NopCloser(bytes.NewReader(raw)), int64(len(raw)), note, nil
}

// bigMessage is the size above which a message is streamed from the
// archive rather than read into memory.
const bigMessage = 4 << 20

// crlf turns every LF not preceded by CR into CRLF and says how many.
func crlf(raw []byte) ([]byte, int) {
	n := 0
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			n++
		}
	}
	if n == 0 {
		return raw, 0
	}
	out := make([]byte, 0, len(raw)+n)
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out, n
}
