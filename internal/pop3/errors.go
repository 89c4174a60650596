package pop3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
)

var (
	// ErrNoUIDL is returned by UIDL when the server does not offer it;
	// callers fall back to identifying messages by content.
	ErrNoUIDL = errors.New("pop3: server does not support UIDL")

	// ErrNoSTLS is returned by Dial with Security "starttls" when the
	// server's CAPA does not list STLS. Nothing is sent in the clear.
	ErrNoSTLS = errors.New("pop3: server does not offer STLS; refusing to continue without TLS")

	// ErrBroken is returned by every call after the connection failed
	// (network error, timeout, cancelled context, protocol violation).
	// It wraps the original cause. Dial again to continue.
	ErrBroken = errors.New("pop3: connection unusable after an earlier error")

	// ErrQuitUnconfirmed is returned by Quit whenever the server did not
	// answer QUIT with +OK. Messages marked with DELE may or may not have
	// been removed (RFC 1939 section 6); assume they were not.
	ErrQuitUnconfirmed = errors.New("pop3: server did not confirm QUIT, deletions not committed")

	// ErrBadChars is returned before anything is sent when a user name,
	// secret or argument contains CR, LF or NUL (which would let the
	// value inject protocol commands).
	ErrBadChars = errors.New("pop3: argument contains CR, LF or NUL")
)

// Error is a -ERR response from the server.
type Error struct {
	// Cmd is the command the server refused, with its non-secret
	// arguments ("RETR 5", "PASS", "AUTH XOAUTH2"), or "greeting".
	Cmd string
	// Code is the response code from the brackets that start the text
	// (RFC 2449 section 8, RFC 3206): "IN-USE", "LOGIN-DELAY", "AUTH",
	// "SYS/TEMP", "SYS/PERM". Empty when the server sent none.
	Code string
	// Text is the rest of the server's text.
	Text string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pop3 ")
	b.WriteString(e.Cmd)
	b.WriteString(": server said -ERR")
	if e.Code != "" {
		b.WriteString(" [")
		b.WriteString(e.Code)
		b.WriteString("]")
	}
	if e.Text != "" {
		b.WriteString(" ")
		b.WriteString(e.Text)
	}
	return b.String()
}

// Temporary reports whether retrying later (with backoff, on a new
// connection) may succeed: network errors, timeouts, a dropped
// connection, and the response codes IN-USE, LOGIN-DELAY and SYS/TEMP.
// Authentication failures, SYS/PERM, a refused message, certificate
// errors, bad arguments and a cancelled context are not temporary.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	var pe *Error
	if errors.As(err, &pe) {
		code := strings.ToUpper(pe.Code)
		return code == "IN-USE" || code == "LOGIN-DELAY" || code == "SYS/TEMP" ||
			strings.HasPrefix(code, "SYS/TEMP/")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrBadChars) ||
		errors.Is(err, ErrNoSTLS) || errors.Is(err, ErrNoUIDL) {
		return false
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) ||
		errors.As(err, &invalid) || errors.As(err, &recErr) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// errProtocol marks a server response that does not follow the protocol.
var errProtocol = errors.New("protocol violation")
