package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/internal/imapconn"
)

// A message body may hold lines that look like IMAP commands ("x1 DELETE
// INBOX"). With a non-synchronizing literal ({n+}) the body follows the
// command line at once; a server that rejects the command line (Dovecot
// answers BAD for a flag it refuses) then reads the body as commands
// (../shared/LIBRARIES.md). go-imap v2 sends every literal of up to 4096
// bytes as {n+} when the server announces LITERAL+ or LITERAL-, with no
// option to turn that off. So every connection that APPENDs has those
// capabilities removed from the client's view (syncLiterals): then go-imap
// sends "{n}", waits for the server's "+", and a server that rejects the
// command never sees the body. On top of that only flags the target allows
// are sent, and any BAD closes the connection.

// syncLiterals makes c send synchronizing literals only. go-imap's Caps
// returns the client's own capability set (not a copy), which is what it
// consults when it encodes a literal; IMAP4rev2 implies LITERAL- and goes
// too (mailkeep never ENABLEs it, so the session stays IMAP4rev1).
func syncLiterals(c *imapclient.Client) error {
	caps := c.Caps()
	if caps == nil {
		return errors.New("no capability list from the server")
	}
	delete(caps, imap.CapLiteralPlus)
	delete(caps, imap.CapLiteralMinus)
	delete(caps, imap.CapIMAP4rev2)
	if c.Caps().Has(imap.CapLiteralMinus) || c.Caps().Has(imap.CapLiteralPlus) {
		return errors.New("cannot make the IMAP client use synchronizing literals; refusing to APPEND")
	}
	return nil
}

// appendOutcome is what became of one APPEND on the wire.
type appendOutcome struct {
	data *imap.AppendData
	// sent: the whole body went out and the command was complete, so the
	// server may have stored the message even if no answer came back.
	sent bool
	err  error
}

// appendMessage sends one APPEND with a synchronizing literal and waits for
// its answer. body must yield exactly size bytes.
func appendMessage(c *imapconn.Conn, mailbox string, flags []imap.Flag, date time.Time, size int64, body io.Reader) appendOutcome {
	if err := syncLiterals(c.Client); err != nil {
		return appendOutcome{err: err}
	}
	cmd := c.Append(mailbox, size, &imap.AppendOptions{Flags: flags, Time: date})
	n, werr := io.Copy(cmd, body)
	cerr := cmd.Close()
	data, err := cmd.Wait()
	out := appendOutcome{data: data, err: err}
	if werr == nil && cerr == nil && n == size {
		out.sent = true
	}
	if err == nil && !out.sent {
		// The server answered OK without the whole body: impossible for a
		// well-behaved server; treat it as a broken connection.
		out.err = fmt.Errorf("append: body not fully sent (%d of %d bytes): %v", n, size, errors.Join(werr, cerr))
	}
	dropOnBad(c, out.err)
	return out
}

// dropOnBad closes c when err is a BAD answer: RFC 3501 7.1.3, the server
// did not understand the command, so what it makes of the bytes that
// follow cannot be trusted any more.
func dropOnBad(c *imapconn.Conn, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeBad {
		c.Close()
	}
	return err
}

// errKind classifies a failed APPEND.
type errKind int

const (
	errNone      errKind = iota
	errThrottle          // NO [LIMIT] / [UNAVAILABLE] / BYE: wait, reconnect, try again
	errTryCreate         // NO [TRYCREATE]: create the folder, try once more
	errTooBig            // NO [TOOBIG]: skip it
	errRefused           // any other NO or BAD: the target will not take this message
	errConn              // the connection failed before the body was out: try again
	errUncertain         // the connection failed after the body: the message may be there
)

func classify(o appendOutcome) errKind {
	if o.err == nil {
		return errNone
	}
	var ie *imap.Error
	if errors.As(o.err, &ie) {
		switch {
		case ie.Type == imap.StatusResponseTypeBye:
			if o.sent {
				return errUncertain
			}
			return errThrottle
		case ie.Code == imap.ResponseCodeLimit, ie.Code == imap.ResponseCodeUnavailable, ie.Code == imap.ResponseCodeInUse:
			return errThrottle
		case ie.Code == imap.ResponseCodeTryCreate:
			return errTryCreate
		case ie.Code == imap.ResponseCodeTooBig:
			return errTooBig
		}
		return errRefused
	}
	if o.sent {
		return errUncertain
	}
	return errConn
}

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
func (s *slot) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

// job is one message to APPEND.
type job struct {
	tf *tfolder
	p  *place
}

// result is what a worker made of a job.
type result struct {
	j        *job
	kind     errKind
	uid      uint32 // from APPENDUID, 0 without UIDPLUS
	uidv     uint32
	bytes    int64
	err      error
	dropped  []string
	repaired string // what RepairLineEndings changed, "" if nothing
	fatal    bool   // the target cannot be used at all (login refused)
	created  bool   // the folder was created on TRYCREATE
}

// worker APPENDs jobs on its own connection.
type worker struct {
	e  *engine
	s  *slot
	id int
}

func (w *worker) run(jobs <-chan *job, results chan<- *result) {
	for j := range jobs {
		results <- w.do(j)
	}
}

func (w *worker) do(j *job) *result {
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
		r.kind, r.err = errRefused, fmt.Errorf("read from the archive: %w", err)
		r.fatal = true // the archive is damaged or closed: nothing else will work either
		return r
	}
	defer body.Close()
	r.repaired = repaired
	flags, dropped := tf.policy.filter(p.flagList())
	r.dropped = dropped
	o := appendMessage(c, tf.name, flags, p.appendDate(), size, body)
	r.kind, r.err = classify(o), o.err
	if r.kind == errTryCreate {
		// The folder vanished under us (another client deleted it). Create
		// it and try once more (RFC 3501 6.3.11).
		if c, err = w.s.get(e.ctx); err == nil {
			if cerr := createFolder(c, tf.name, tf.specialUse, e.canCreateSpecialUse); cerr == nil {
				r.created = true
				body.Close()
				if body, size, _, err = e.messageBody(p); err == nil {
					o = appendMessage(c, tf.name, flags, p.appendDate(), size, body)
					r.kind, r.err = classify(o), o.err
				}
			}
		}
	}
	if r.kind == errNone {
		r.bytes = size
		if o.data != nil {
			r.uid, r.uidv = uint32(o.data.UID), o.data.UIDValidity
		}
	}
	if r.kind == errConn || r.kind == errUncertain || r.kind == errThrottle {
		w.s.drop()
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

// createFolder creates a folder, with its special-use attribute where the
// server supports that (RFC 6154 3), and subscribes it. An existing folder
// is not an error.
func createFolder(c *imapconn.Conn, name, specialUse string, withUse bool) error {
	var opts *imap.CreateOptions
	if specialUse != "" && withUse {
		opts = &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttr(specialUse)}}
	}
	err := dropOnBad(c, c.Create(name, opts).Wait())
	if err != nil && opts != nil && !alreadyExists(err) && !c.Broken() {
		// RFC 6154 3: a server may refuse the attribute ([USEATTR]); the
		// folder matters more than its role.
		err = dropOnBad(c, c.Create(name, nil).Wait())
	}
	if err != nil && !alreadyExists(err) {
		return err
	}
	// Subscribing is a courtesy for mail clients; its failure is not the
	// folder's.
	c.Subscribe(name).Wait()
	return nil
}

func alreadyExists(err error) bool {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code == imap.ResponseCodeAlreadyExists || strings.Contains(strings.ToLower(ie.Text), "already exists")
	}
	return false
}
