package restore

import (
	"errors"
	"strings"

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
	errRetry             // not stored because another message of its MULTIAPPEND failed: send again
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
