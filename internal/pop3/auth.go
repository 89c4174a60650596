package pop3

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrNoAuthMech is returned by Auth with mech "" when the server offers
// no mechanism this client knows.
var ErrNoAuthMech = errors.New("pop3: server offers no supported authentication mechanism")

// Auth logs in. secret is the password, or the OAuth 2 access token for
// "xoauth2" and "oauthbearer". mech is one of
//
//	"user"        USER and PASS (RFC 1939 section 7)
//	"apop"        APOP with the greeting's timestamp (RFC 1939 section 7)
//	"plain"       AUTH PLAIN (RFC 5034, RFC 4616)
//	"xoauth2"     AUTH XOAUTH2, as Gmail and Microsoft 365 expect: the
//	              command alone, then the response after the server's "+"
//	"oauthbearer" AUTH OAUTHBEARER (RFC 7628)
//	""            automatic: USER/PASS if CAPA lists USER or the server
//	              has no CAPA at all; else AUTH PLAIN if CAPA lists SASL
//	              PLAIN; else APOP if the greeting has a timestamp.
//
// SASL exchanges never use an initial response on the AUTH line, which
// every server accepts. A user or secret holding CR, LF or NUL is
// refused before anything is sent (ErrBadChars). Errors never contain
// the secret: the server's text is scrubbed of it too.
// After a successful login CAPA is fetched again (RFC 2449 section 5).
func (c *Client) Auth(ctx context.Context, user, secret, mech string) error {
	if !validArg(user) {
		return fmt.Errorf("pop3 auth: user name: %w", ErrBadChars)
	}
	if !validArg(secret) {
		return fmt.Errorf("pop3 auth: secret: %w", ErrBadChars)
	}
	mech = strings.ToLower(mech)
	if mech == "" {
		mech = c.autoMech()
		if mech == "" {
			return ErrNoAuthMech
		}
	}
	var run func() error
	switch mech {
	case "user":
		run = func() error { return c.authUser(user, secret) }
	case "apop":
		if c.apopTS == "" {
			return errors.New("pop3 auth: server greeting has no APOP timestamp")
		}
		if strings.ContainsAny(user, " \t") {
			return errors.New("pop3 auth: APOP user name must not contain spaces")
		}
		run = func() error { return c.authAPOP(user, secret) }
	case "plain":
		run = func() error {
			return c.sasl("PLAIN", []byte("\x00"+user+"\x00"+secret), nil, secret)
		}
	case "xoauth2":
		if strings.ContainsRune(user+secret, '\x01') {
			return fmt.Errorf("pop3 auth: user name or token contains 0x01")
		}
		// On failure the server sends a JSON error challenge; the
		// client must answer with an empty response.
		run = func() error {
			return c.sasl("XOAUTH2", []byte("user="+user+"\x01auth=Bearer "+secret+"\x01\x01"), []byte{}, secret)
		}
	case "oauthbearer":
		if strings.ContainsRune(user+secret, '\x01') {
			return fmt.Errorf("pop3 auth: user name or token contains 0x01")
		}
		// RFC 7628 section 3.2.3: answer an error challenge with 0x01.
		gs2 := "n,a=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user) + ","
		run = func() error {
			return c.sasl("OAUTHBEARER", []byte(gs2+"\x01auth=Bearer "+secret+"\x01\x01"), []byte{1}, secret)
		}
	default:
		return fmt.Errorf("pop3 auth: unknown mechanism %q (want user, apop, plain, xoauth2 or oauthbearer)", mech)
	}
	err := c.do(ctx, "auth", run)
	if err != nil {
		return err
	}
	return c.do(ctx, "CAPA", c.loadCaps)
}

func (c *Client) autoMech() string {
	switch {
	case c.caps == nil || c.HasCap("USER"):
		return "user"
	case hasWord(c.caps["SASL"], "PLAIN"):
		return "plain"
	case c.apopTS != "":
		return "apop"
	}
	return ""
}

func hasWord(list []string, w string) bool {
	for _, s := range list {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

func (c *Client) authUser(user, secret string) error {
	if _, err := c.cmd("USER " + user); err != nil {
		return err
	}
	if err := c.send("PASS "+secret, "PASS <redacted>"); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_, err := c.status("PASS")
	return scrub(err, secret)
}

func (c *Client) authAPOP(user, secret string) error {
	sum := md5.Sum([]byte(c.apopTS + secret))
	digest := hex.EncodeToString(sum[:])
	if err := c.send("APOP "+user+" "+digest, "APOP "+user+" <redacted>"); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_, err := c.status("APOP")
	return scrub(err, secret, digest)
}

// sasl runs AUTH mech with resp as the (only) client response. errResp is
// what to answer an error challenge with (nil: cancel with "*").
func (c *Client) sasl(mech string, resp, errResp []byte, secret string) error {
	name := "AUTH " + mech
	enc := base64.StdEncoding.EncodeToString(resp)
	if err := c.send(name, ""); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if _, cont, err := c.saslLine(name); err != nil {
		return scrub(err, secret, enc)
	} else if !cont {
		return c.fail(fmt.Errorf("%w: +OK before the client's response", errProtocol))
	}
	if err := c.send(enc, "<redacted>"); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	challenge, cont, err := c.saslLine(name)
	if err != nil || !cont {
		return scrub(err, secret, enc)
	}
	// An error challenge: the server explains (often as JSON) and waits.
	answer := "*"
	if errResp != nil {
		answer = base64.StdEncoding.EncodeToString(errResp)
	}
	if err := c.send(answer, ""); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_, cont, err = c.saslLine(name)
	if err == nil {
		if cont {
			return c.fail(fmt.Errorf("%w: more challenges after an error challenge", errProtocol))
		}
		return c.fail(fmt.Errorf("%w: +OK after an error challenge", errProtocol))
	}
	var pe *Error
	if errors.As(err, &pe) {
		if detail, derr := base64.StdEncoding.DecodeString(challenge); derr == nil && len(detail) > 0 {
			pe.Text = strings.TrimSpace(pe.Text + " (server challenge: " + string(truncate(detail, 200)) + ")")
		}
	}
	return scrub(err, secret, enc)
}

// saslLine reads "+OK", "-ERR" or a continuation "+ challenge".
func (c *Client) saslLine(name string) (challenge string, cont bool, err error) {
	line, err := c.readLine()
	if err != nil {
		return "", false, err
	}
	c.traceS(line)
	if len(line) >= 1 && line[0] == '+' && (len(line) == 1 || line[1] == ' ') {
		return strings.TrimSpace(string(line[1:])), true, nil
	}
	ok, text, err := parseStatus(line)
	if err != nil {
		return "", false, c.fail(err)
	}
	if !ok {
		return "", false, newError(name, text)
	}
	return "", false, nil
}

// scrub removes secrets from the server's text of a -ERR, in case a
// server echoes what it was sent.
func scrub(err error, secrets ...string) error {
	var pe *Error
	if !errors.As(err, &pe) {
		return err
	}
	for _, s := range secrets {
		if len(s) >= 3 {
			pe.Text = strings.ReplaceAll(pe.Text, s, "<redacted>")
			pe.Code = strings.ReplaceAll(pe.Code, s, "<redacted>")
		}
	}
	return err
}
