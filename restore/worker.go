package restore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/mailkeep/mailkeep/internal/imapconn"
)

// slot is one connection to the target, re-dialled when it breaks.
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
		s.c.Close()
		s.c = nil
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	if err := syncLiterals(c.Client); err != nil {
		c.Close()
		return nil, &imapconn.Error{Op: "prepare connection", Err: err, Permanent: true}
	}
	s.c = c
	return c, nil
}

// drop closes the connection; the next get dials again.
func (s *slot) drop() { s.dropIf(nil) }

// dropIf closes the connection if it is c (any, for nil): a late answer
// on an old connection must not close its replacement.
func (s *slot) dropIf(c *imapconn.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil && (c == nil || s.c == c) {
		s.c.Close()
		s.c = nil
	}
}

// job is one message to APPEND.
type job struct {
	tf      *tfolder
	p       *place
	created bool // the folder was created again after TRYCREATE
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

// batchSize is how many messages of one folder a worker takes at a time:
// consecutive APPENDs to one folder on one connection are cheap for the
// server, while batches let several connections work on several folders.
const batchSize = 64

// worker APPENDs on its own connection, pipelined: it sends the next
// APPEND while earlier ones wait for their answers (each body still waits
// for the server's "+").
type worker struct {
	e *engine
	s *slot
}

// window bounds the APPENDs in flight on one connection.
const window = 32

type inflight struct {
	j  *job
	pa *pendingAppend
	r  *result
}

func (w *worker) run(jobs <-chan []*job, results chan<- *result) {
	waitq := make(chan *inflight, window)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range waitq {
			results <- w.finish(f)
		}
	}()
	for batch := range jobs {
		for _, j := range batch {
			if r := w.send(j, waitq); r != nil {
				results <- r
			}
		}
	}
	close(waitq)
	<-done
}

// send puts one APPEND on the wire, or returns why it could not.
func (w *worker) send(j *job, waitq chan<- *inflight) *result {
	e, p, tf := w.e, j.p, j.tf
	r := &result{j: j}
	if limit := e.appendLimit; limit > 0 && uint64(p.size) > limit {
		r.kind, r.err = errTooBig, fmt.Errorf("larger than the target's APPENDLIMIT of %d bytes", limit)
		return r
	}
	c, err := w.s.get(e.ctx)
	if err != nil {
		r.kind, r.err, r.fatal = errConn, err, imapconn.Permanent(err)
		return r
	}
	body, size, repaired, err := e.messageBody(p)
	if err != nil {
		r.kind, r.err, r.fatal = errRefused, fmt.Errorf("read from the archive: %w", err), true
		return r
	}
	r.repaired = repaired
	flags, dropped := tf.policy.filter(p.flagList())
	r.dropped = dropped
	pa, err := appendSend(c, tf.name, flags, p.appendDate(), size, body)
	body.Close()
	if err != nil {
		r.kind, r.err, r.fatal = errRefused, err, true
		return r
	}
	r.bytes = size
	f := &inflight{j: j, pa: pa, r: r}
	if !pa.sent {
		// Refused before the body, or the connection failed: the answer
		// is there already (or never comes).
		return w.finish(f)
	}
	waitq <- f
	return nil
}

// finish waits for an APPEND's answer.
func (w *worker) finish(f *inflight) *result {
	o := f.pa.wait()
	r := f.r
	r.kind, r.err = classify(o), o.err
	switch r.kind {
	case errNone:
		if o.data != nil {
			r.uid, r.uidv = uint32(o.data.UID), o.data.UIDValidity
		}
	case errConn, errUncertain, errThrottle:
		w.s.dropIf(f.pa.c)
	}
	return r
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
