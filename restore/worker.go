package restore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
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
	single  bool // APPEND it alone: a MULTIAPPEND was refused and this message is the suspect
	// limit, if not 0, is the most messages a MULTIAPPEND with this one
	// may hold: halved each time a MULTIAPPEND it was in is refused, so
	// a refused message is always found (bisection) and the others go on.
	limit int
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
	risky    bool   // the bytes sent are of a kind targets alter (altered.go)
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

// worker APPENDs on its own connection (imapconn.AppendClient, not
// go-imap: synchronizing literals and MULTIAPPEND).
type worker struct {
	e *engine
	a *imapconn.AppendClient
}

func (w *worker) run(jobs <-chan []*job, results chan<- *result) {
	for batch := range jobs {
		w.appendBatch(batch, results)
	}
	if w.a != nil {
		w.a.Close()
	}
}

func (w *worker) conn() (*imapconn.AppendClient, error) {
	if w.a != nil && !w.a.Broken() {
		return w.a, nil
	}
	if w.a != nil {
		w.a.Close()
		w.a = nil
	}
	a, err := imapconn.DialAppend(w.e.ctx, w.e.t.Login)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", w.e.t.Name, err)
	}
	w.a = a
	return a, nil
}

func (j *job) maxBatch() int {
	switch {
	case j.single:
		return 1
	case j.limit > 0:
		return j.limit
	}
	return batchSize
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
		if a.Has("MULTIAPPEND") && !e.o.RepairLineEndings {
			limit := rest[0].maxBatch()
			for n < len(rest) && n < limit && n < rest[n].maxBatch() && bytes+rest[n].p.size <= batchBytes {
				bytes += rest[n].p.size
				limit = min(limit, rest[n].maxBatch())
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
func (w *worker) sendChunk(a *imapconn.AppendClient, chunk []*job) []*result {
	e := w.e
	tf := chunk[0].tf
	out := make([]*result, len(chunk))
	msgs := make([]imapconn.AppendMessage, len(chunk))
	for i, j := range chunk {
		r := &result{j: j}
		out[i] = r
		flags, dropped := tf.policy.filter(j.p.flagList())
		r.dropped = dropped
		m := imapconn.AppendMessage{Options: &imap.AppendOptions{Flags: flags, Time: j.p.appendDate()}, Size: j.p.size}
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
			r.repaired, m.Size = note, size
			m.Open = func() (io.ReadCloser, error) { return body, nil }
		} else {
			p := j.p
			m.Open = func() (io.ReadCloser, error) {
				rc, _, _, err := e.messageBody(p)
				return rc, err
			}
		}
		r.bytes = m.Size
		open := m.Open
		m.Open = func() (io.ReadCloser, error) {
			rc, err := open()
			if err != nil {
				return nil, err
			}
			return watchRisk(rc, &r.risky), nil
		}
		msgs[i] = m
	}
	res := a.Append(tf.name, msgs)
	w.outcomes(out, res)
	for _, r := range out {
		if r.kind != errNone {
			r.bytes = 0
		}
	}
	return out
}

// outcomes says what an APPEND's result means for each of its messages.
func (w *worker) outcomes(out []*result, res imapconn.AppendResult) {
	set := func(r *result, k errKind, err error) { r.kind, r.err = k, err }
	switch {
	case res.Err != nil && res.SourceErr:
		for i, r := range out {
			if i == res.Sent {
				r.kind, r.err, r.fatal = errRefused, archiveErr(res.Err), true
			} else {
				set(r, errRetry, res.Err)
			}
		}
		return
	case res.Err != nil:
		// The connection failed. Before the command was complete the
		// server stored nothing (a MULTIAPPEND is all or nothing, RFC 3502);
		// after, it may have stored all of it.
		k := errConn
		if res.Complete {
			k = errUncertain
		}
		for _, r := range out {
			set(r, k, res.Err)
		}
		return
	case res.Answer.Kind == "OK":
		for i, r := range out {
			r.kind = errNone
			if len(res.UIDs) == len(out) {
				r.uid, r.uidv = res.UIDs[i], res.UIDValidity
			}
		}
		return
	}
	err := res.Answer.Err()
	k := classify(appendOutcome{err: err, sent: res.Complete})
	switch {
	case res.Answer.Kind == "BYE" && res.Complete:
		k = errUncertain
	case res.Answer.Kind == "BYE":
		k = errThrottle
	}
	switch {
	case k == errThrottle || k == errTryCreate || k == errUncertain || len(out) == 1:
		// About the folder or the server, or about the one message.
		for _, r := range out {
			set(r, k, err)
		}
	case res.Refused >= 0 && (k == errTooBig || res.Answer.Kind == "BAD"):
		// Refused on its command line ({size} or flags), before its body:
		// the others were not stored (all or nothing) and are sent again.
		for i, r := range out {
			if i == res.Refused {
				set(r, k, err)
			} else {
				set(r, errRetry, err)
			}
		}
	default:
		// A NO for one of the bodies. Cyrus answers right after the bad
		// literal, while the client waits for the "+" of the next one;
		// a server that checks at the end answers after the last. The
		// literal sent last is the suspect: it goes alone, where a NO is
		// its own. The rest go again in MULTIAPPENDs half as large, so a
		// suspect wrongly taken is still found, and no message is skipped
		// for another's fault.
		blame := res.Blame
		if blame < 0 {
			blame = max(res.Refused, 0)
		}
		half := max(1, (len(out)+1)/2)
		for i, r := range out {
			set(r, errRetry, err)
			if i == blame {
				r.j.single = true
			} else {
				r.j.limit = min(r.j.maxBatch(), half)
			}
		}
	}
}

// messageBody opens the bytes to APPEND: the archived message, or with
// RepairLineEndings and bare LFs in it, a copy with CRLF line ends.
func (e *engine) messageBody(p *place) (io.ReadCloser, int64, string, error) {
	if !e.o.RepairLineEndings && p.size > archive.BigMessage {
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
