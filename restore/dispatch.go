package restore

import (
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// startWorkers starts one APPEND worker per target connection. A worker
// dials when it gets its first job, so a run with little to copy opens few
// connections.
func (e *engine) startWorkers() {
	if e.jobs != nil {
		return
	}
	e.jobs = make(chan *job)
	e.results = make(chan *result, len(e.slots))
	for i, s := range e.slots {
		w := &worker{e: e, s: s, id: i}
		go w.run(e.jobs, e.results)
	}
}

// drain APPENDs everything queued, on all connections, and records each
// outcome in order of arrival. Throttling answers pause the whole queue
// (the server speaks for the account, not the connection).
func (e *engine) drain() error {
	if len(e.queue) == 0 {
		return nil
	}
	e.startWorkers()
	inflight := 0
	var pause time.Time
	done := e.ctx.Done()
	var stop error
	for len(e.queue) > 0 || inflight > 0 {
		var send chan<- *job
		var next *job
		var wake <-chan time.Time
		if len(e.queue) > 0 {
			if d := time.Until(pause); d > 0 {
				wake = time.After(d)
			} else {
				send, next = e.jobs, e.queue[0]
			}
		}
		select {
		case send <- next:
			e.queue = e.queue[1:]
			inflight++
		case r := <-e.results:
			inflight--
			if err := e.handle(r, &pause); err != nil && stop == nil {
				stop = err
			}
			if stop != nil {
				e.unqueue() // nothing more is sent, retries included
			}
		case <-wake:
		case <-done:
			done = nil
			if stop == nil {
				stop = e.ctx.Err()
			}
			e.unqueue()
		}
	}
	if err := e.commit(stop != nil); err != nil && stop == nil {
		stop = err
	}
	return stop
}

func (e *engine) unqueue() {
	for _, j := range e.queue {
		j.p.queued = false
	}
	e.queue = nil
}

func (e *engine) retries() int {
	if e.t.Retries > 0 {
		return e.t.Retries
	}
	return 8
}

func (e *engine) backoff() time.Duration {
	if e.t.Backoff > 0 {
		return e.t.Backoff
	}
	return time.Second
}

// handle records one APPEND's outcome.
func (e *engine) handle(r *result, pause *time.Time) error {
	p, tf := r.j.p, r.j.tf
	if r.created {
		e.warn(tf.name, "the folder had disappeared from the target (TRYCREATE); created it again")
	}
	switch r.kind {
	case errNone:
		e.throttle = 0
		tf.res.Copied++
		tf.res.CopiedBytes += r.bytes
		e.noteFlags(tf, p, r)
		progress.Send(e.rep, progress.Event{Kind: progress.Item, Account: e.t.Name, Folder: tf.name, UID: r.uid, Bytes: r.bytes})
		if r.uid != 0 {
			if err := e.record(tf, p, r.uidv, r.uid, archive.LedgerAppend, p.flags); err != nil {
				return err
			}
		} else {
			// No UIDPLUS: the UID is found by looking once the queue is done.
			p.queued, p.pending = false, true
			tf.pending = append(tf.pending, p)
		}
	case errUncertain:
		p.queued, p.pending, p.uncertain = false, true, true
		tf.pending = append(tf.pending, p)
		progress.Send(e.rep, progress.Event{Kind: progress.Retry, Account: e.t.Name, Folder: tf.name, Err: r.err,
			Text: "connection lost after a message was sent; checking whether the target kept it before sending it again"})
	case errThrottle, errConn:
		if r.fatal {
			return fmt.Errorf("target %s: %w", e.t.Name, r.err)
		}
		p.attempts++
		if p.attempts > e.retries() {
			e.skipPlace(tf, p, fmt.Sprintf("gave up after %d attempts: %v", p.attempts, r.err))
			break
		}
		e.queue = append([]*job{r.j}, e.queue...)
		wait := e.backoff() << min(p.attempts-1, 6)
		if r.kind == errThrottle {
			e.throttle = max(e.backoff(), e.throttle*2)
			wait = e.throttle
		}
		wait = min(wait, time.Minute)
		if until := time.Now().Add(wait); until.After(*pause) {
			*pause = until
		}
		text := "connection lost; reconnecting"
		if r.kind == errThrottle {
			text = "the target asks to slow down"
		}
		progress.Send(e.rep, progress.Event{Kind: progress.Retry, Account: e.t.Name, Folder: tf.name, Err: r.err,
			Text: fmt.Sprintf("%s; resuming in %s (attempt %d of %d)", text, wait.Round(time.Millisecond), p.attempts, e.retries())})
	case errTooBig:
		e.skipPlace(tf, p, fmt.Sprintf("too big for the target: %v", r.err))
	case errTryCreate:
		e.skipPlace(tf, p, fmt.Sprintf("the folder does not exist on the target even after creating it: %v", r.err))
	case errRefused:
		if r.fatal {
			return archiveErr(r.err)
		}
		e.skipPlace(tf, p, fmt.Sprintf("the target refused the message: %v", r.err))
	}
	return e.commit(false)
}

func (e *engine) skipPlace(tf *tfolder, p *place, reason string) {
	p.queued, p.pending, p.skipped = false, false, true
	s := p.skip(reason)
	tf.res.Skipped = append(tf.res.Skipped, s)
	progress.Send(e.rep, progress.Event{Kind: progress.Skipped, Account: e.t.Name, Folder: tf.name, UID: p.uid, Text: s.String()})
}

// noteFlags keeps count of flags left off and messages repaired.
func (e *engine) noteFlags(tf *tfolder, p *place, r *result) {
	for _, f := range r.dropped {
		if tf.res.DroppedFlags == nil {
			tf.res.DroppedFlags = map[string]int64{}
		}
		if tf.res.DroppedFlags[f] == 0 {
			e.warn(tf.name, fmt.Sprintf("flag %s is not allowed by the target folder (PERMANENTFLAGS) or is not a valid keyword; left off", f))
		}
		tf.res.DroppedFlags[f]++
	}
	if r.repaired != "" {
		tf.res.Repaired = append(tf.res.Repaired, p.skip(r.repaired))
	}
}
