package imapconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
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
