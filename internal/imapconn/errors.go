package imapconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Error is a connection-level failure; Permanent says whether trying
// again can help (a wrong password or a bad certificate: no; a dropped
// connection: yes).
type Error struct {
	Op        string
	Err       error
	Permanent bool
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether err will happen again on a retry.
func Permanent(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Permanent
	}
	return false
}

func classify(op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Op: op, Err: e.Err, Permanent: e.Permanent}
	}
	var certErr *tls.CertificateVerificationError
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unk), errors.As(err, &host), errors.As(err, &inv):
		return &Error{Op: op, Err: fmt.Errorf("certificate not trusted: %w", err), Permanent: true}
	case strings.Contains(err.Error(), "tls: "):
		return &Error{Op: op, Err: err, Permanent: true}
	}
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeBad {
		return &Error{Op: op, Err: err, Permanent: true}
	}
	return &Error{Op: op, Err: err}
}

// Transient reports whether err looks like a network problem worth a
// reconnect: timeouts, resets, EOF, a connection go-imap closed.
func Transient(err error) bool {
	if err == nil || Permanent(err) {
		return false
	}
	// A file or disk error (a syscall.Errno, which also looks like a
	// net.Error) is never the network's.
	var pe *fs.PathError
	var le *LimitError
	if errors.As(err, &pe) || errors.As(err, &le) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		// NO [UNAVAILABLE] / [LIMIT] / BYE are throttling or a server going away.
		return ie.Code == imap.ResponseCodeUnavailable || ie.Code == imap.ResponseCodeLimit || ie.Type == imap.StatusResponseTypeBye
	}
	s := err.Error()
	return strings.Contains(s, "connection closed") || strings.Contains(s, "closed network connection") ||
		strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset") || strings.Contains(s, "EOF") ||
		strings.Contains(s, "imapwire") || strings.Contains(s, "in response")
}

// LimitError is a server response over one of the connection's limits:
// a line (or a literal that is not a message body) over MaxLine, or a
// message body over MaxMessageSize. The connection is closed: go-imap
// cannot skip a literal. UID (or, when the server sent the body before
// the UID, Seq) names the message.
type LimitError struct {
	What  string // "line", "literal" or "message"
	Size  int64  // bytes announced or read so far
	Limit int64
	UID   uint32
	Seq   uint32
}

func (e *LimitError) Error() string {
	switch e.What {
	case "message":
		id := "message"
		if e.UID == 0 {
			id = fmt.Sprintf("message %d (sequence number; the server sent no UID first)", e.Seq)
		}
		return fmt.Sprintf("%s is %d bytes, more than max_message_size (%d bytes); not archived", id, e.Size, e.Limit)
	case "literal":
		return fmt.Sprintf("server sent a %d-byte string in a response, more than the %d bytes allowed outside a message; connection closed", e.Size, e.Limit)
	}
	return fmt.Sprintf("server sent a response line of more than %d bytes; connection closed", e.Limit)
}
