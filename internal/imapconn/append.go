package imapconn

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/mutf7"
)

// AppendMessage is one message of an APPEND.
type AppendMessage struct {
	Size    int64
	Options *imap.AppendOptions // flags and INTERNALDATE; nil means none
	// Open gives the body; it is called only after the server's "+".
	Open func() (io.ReadCloser, error)
}

// AppendResult is how far one APPEND command got.
type AppendResult struct {
	// Sent is how many bodies went out in full.
	Sent int
	// Refused is the index of the message whose "+" never came: the
	// server answered the command instead (-1 if none).
	Refused int
	// Blame is the message a NO is attributed to: the literal sent last
	// before it (-1: none was sent). A server such as Cyrus checks each
	// literal as it arrives and answers NO right after the bad one, while
	// the client waits for the "+" of the next; a server that checks at
	// the end answers after the last. Only an APPEND of that one message
	// alone says for sure.
	Blame int
	// Complete: the whole command went out (its final CRLF), so the
	// server may have stored the messages even without an answer.
	Complete bool
	Answer   *Response // the tagged answer (or BYE); nil if none came
	Err      error     // the connection failed, or a body could not be read
	// SourceErr: Err came from a message's Open, not the server.
	SourceErr   bool
	UIDValidity uint32
	UIDs        []uint32 // from APPENDUID, in the order of msgs, when complete
}

// Append APPENDs msgs to mailbox in one command: MULTIAPPEND (RFC 3502)
// when there are several (the caller checks the server has it). Each
// message's arguments are followed by a synchronizing literal: its body is
// written only after the server's "+". A server that answers in the middle
// of a MULTIAPPEND has ended the command while the client still had a
// literal to announce; the connection is dropped then, since what the
// server makes of the rest of the line is unknown.
func (a *AppendClient) Append(mailbox string, msgs []AppendMessage) AppendResult {
	res := AppendResult{Refused: -1, Blame: -1}
	tag := a.nextTag()
	for i, m := range msgs {
		var line strings.Builder
		if i == 0 {
			line.WriteString(tag + " APPEND " + MailboxArg(mailbox))
		}
		if o := m.Options; o != nil {
			if len(o.Flags) > 0 {
				line.WriteString(" (")
				for j, f := range o.Flags {
					if j > 0 {
						line.WriteByte(' ')
					}
					line.WriteString(string(f))
				}
				line.WriteByte(')')
			}
			if !o.Time.IsZero() {
				line.WriteString(` "` + o.Time.Format("_2-Jan-2006 15:04:05 -0700") + `"`)
			}
		}
		fmt.Fprintf(&line, " {%d}\r\n", m.Size)
		a.tracef("C: %s", strings.TrimRight(line.String(), "\r\n"))
		if err := a.write(line.String()); err != nil {
			res.Err = err
			return res
		}
		if err := a.flush(); err != nil {
			res.Err = err
			return res
		}
		r, err := a.await(tag, true)
		if err != nil {
			res.Err = err
			return res
		}
		if r.Tag != "+" {
			// Answered before this body: the server never reads it.
			res.Refused, res.Answer, res.Blame = i, r, i-1
			if i > 0 {
				a.Close()
			}
			return res
		}
		body, err := m.Open()
		if err != nil {
			// The source failed: this connection is mid-command; drop it.
			a.Close()
			res.Err, res.SourceErr = err, true
			return res
		}
		n, err := io.Copy(a.w, body)
		body.Close()
		if err == nil && n != m.Size {
			err = fmt.Errorf("message is %d bytes, %d announced", n, m.Size)
		}
		if err != nil {
			a.Close()
			res.Err = a.failure(err)
			return res
		}
		a.tracef("C: <%d bytes>", n)
		res.Sent++
	}
	if err := a.write("\r\n"); err != nil {
		res.Err = err
		return res
	}
	if err := a.flush(); err != nil {
		res.Err = err
		return res
	}
	res.Complete = true
	r, err := a.await(tag, false)
	if err != nil {
		res.Err = err
		return res
	}
	res.Answer = r
	switch {
	case r.Kind == "OK" && r.Code == "APPENDUID":
		res.UIDValidity, res.UIDs = ParseAppendUID(r.Args, len(msgs))
	case r.Kind != "OK":
		res.Blame = len(msgs) - 1
	}
	return res
}

// MailboxArg encodes a mailbox name for a command: modified UTF-7 (RFC
// 3501 5.1.3), quoted.
func MailboxArg(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return quoteString(mutf7.Encode(name))
}

// ParseAppendUID reads "uidvalidity uid-set" (RFC 4315 3); the UIDs are
// returned in order only when there are exactly n.
func ParseAppendUID(args string, n int) (uint32, []uint32) {
	f := strings.Fields(args)
	if len(f) != 2 {
		return 0, nil
	}
	v, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, nil
	}
	var uids []uint32
	for _, part := range strings.Split(f[1], ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 32)
		}
		if err1 != nil || err2 != nil || b < a || len(uids)+int(b-a+1) > n {
			return uint32(v), nil
		}
		for u := a; u <= b; u++ {
			uids = append(uids, uint32(u))
		}
	}
	if len(uids) != n {
		return uint32(v), nil
	}
	return uint32(v), uids
}
