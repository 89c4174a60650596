package ops

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/pop3"
)

// secretSource names where an account's secret comes from, never the
// secret: "password_file /etc/mk/pw", "password_env WORK_PW",
// "password_command", "token_command", "the inline password".
func secretSource(a *config.Account) string {
	switch s := a.SecretSource(); s {
	case "password":
		return "the inline password"
	case "password_env":
		return "password_env " + a.PasswordEnv
	case "password_file":
		return "password_file " + a.PasswordFile
	case "":
		return "no password source"
	default:
		return s
	}
}

// loginFailed says which secret a refused login used, with a hint.
func loginFailed(a *config.Account, err error) error {
	return &Error{Err: fmt.Errorf("%w (user %s, secret from %s)", err, a.Username, secretSource(a)),
		Hint: fmt.Sprintf("check username: and %s of account %s; 'mailkeep check %s' tries the login alone", secretSource(a), a.Name, a.Name)}
}

// imapLoginRefused reports whether err is the server refusing the login
// (not a network failure).
func imapLoginRefused(err error) bool {
	var e *imapconn.Error
	return errors.As(err, &e) && e.Permanent && (strings.HasPrefix(e.Op, "login") || strings.Contains(e.Error(), "authentication failed"))
}

// pop3LoginRefused reports whether err from Auth is the server's answer.
func pop3LoginRefused(err error) bool {
	var e *pop3.Error
	return errors.As(err, &e)
}

// HintFor says what to do about err, or "": its own hint when it has
// one, else one for the failures a sysadmin meets first (nothing
// listening, TLS spoken to a plain port, an archive it may not write).
func HintFor(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Hint != "" {
		return e.Hint
	}
	var rh tls.RecordHeaderError
	var pin *config.PinError
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	msg := err.Error()
	switch {
	case errors.As(err, &pin):
		return "if the server's certificate was replaced on purpose, put the new fingerprint in tls_fingerprint: 'mailkeep check --show-cert ACCOUNT' prints it"
	case errors.As(err, &unk), errors.As(err, &host), errors.As(err, &inv), strings.Contains(msg, "certificate not trusted"):
		return "to trust a self-signed or private certificate, set ca_file: (a PEM file of its authority) or tls_fingerprint: sha256:HEX (this certificate only) on the server; 'mailkeep check --show-cert ACCOUNT' prints the chain and its fingerprint"
	case errors.Is(err, syscall.ECONNREFUSED), strings.Contains(msg, "connection refused"):
		return "nothing accepts connections there: check host: and port: (IMAP 993 with security: tls, 143 with starttls; POP3 995 / 110) and that the server runs"
	case errors.As(err, &rh), strings.Contains(msg, "does not look like a TLS handshake"):
		return "the server does not speak TLS on this port: use its TLS port (993, POP3 995), or security: starttls on the plain port (143, POP3 110)"
	case strings.Contains(msg, "database disk image is malformed"), strings.Contains(msg, "file is not a database"):
		// SQLite on a damaged index.db (archive/FORMAT.md, "Repair").
		return "the archive's index is damaged: 'mailkeep verify' names the damage, 'mailkeep repair' rebuilds the index from the data files and keeps the damaged one aside"
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EROFS):
		return "mailkeep may not write there: make the archive directory writable by this user (chown/chmod), or point archive: at one it can write"
	}
	return ""
}

// hintOf is the first hint of the errors, or "".
func hintOf(errs ...error) string {
	for _, err := range errs {
		if h := HintFor(err); h != "" {
			return h
		}
	}
	return ""
}
