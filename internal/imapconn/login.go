package imapconn

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// mechanism chooses how to log in, for both clients: the configured
// mechanism, else AUTHENTICATE PLAIN where offered, else LOGIN. A nil
// sasl.Client means LOGIN.
func mechanism(o *Options, has func(string) bool, secret string) (sasl.Client, error) {
	if strings.ContainsAny(o.Username, "\r\n\x00") || strings.ContainsAny(secret, "\r\n\x00") {
		return nil, &Error{Op: "login", Err: errors.New("user name or secret contains CR, LF or NUL; refusing to send it"), Permanent: true}
	}
	mech := o.Auth
	if mech == "" {
		mech = "login"
		if has("AUTH=PLAIN") {
			mech = "plain"
		}
	}
	switch mech {
	case "login":
		if has(string(imap.CapLoginDisabled)) {
			return nil, &Error{Op: "login", Err: errors.New("server refuses LOGIN (LOGINDISABLED); use security: tls or starttls"), Permanent: true}
		}
		return nil, nil
	case "plain":
		return sasl.NewPlainClient("", o.Username, secret), nil
	case "xoauth2":
		return &xoauth2{user: o.Username, token: secret}, nil
	case "oauthbearer":
		host, port, _ := net.SplitHostPort(o.Addr)
		p, _ := strconv.Atoi(port)
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: o.Username, Token: secret, Host: host, Port: p}), nil
	}
	return nil, &Error{Op: "login", Err: fmt.Errorf("unknown auth mechanism %q", mech), Permanent: true}
}

// authFailed is the error for a refused login: permanent, without the
// secret.
func authFailed(text string) error {
	return &Error{Op: "login", Err: fmt.Errorf("authentication failed: %s", text), Permanent: true}
}

// login logs a go-imap client in.
func login(c *imapclient.Client, o *Options, secret string) error {
	caps := c.Caps()
	sc, err := mechanism(o, func(s string) bool { return caps.Has(imap.Cap(s)) }, secret)
	if err != nil {
		return err
	}
	if sc == nil {
		err = c.Login(o.Username, secret).Wait()
	} else {
		err = c.Authenticate(sc)
	}
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			return authFailed(ie.Text)
		}
		return err
	}
	return nil
}

// xoauth2 is the SASL mechanism Gmail and Microsoft 365 use (go-sasl has
// none): "user=" U ^A "auth=Bearer " T ^A ^A; an error challenge gets an
// empty answer so the server ends the exchange with NO.
type xoauth2 struct{ user, token string }

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) { return []byte{}, nil }
