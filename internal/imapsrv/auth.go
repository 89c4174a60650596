package imapsrv

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"
)

// Login implements LOGIN and, through the imapserver, AUTHENTICATE PLAIN.
func (s *session) Login(username, password string) error {
	s.srv.mu.RLock()
	u := s.srv.users[username]
	ok := u != nil && subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) == 1
	s.srv.mu.RUnlock()
	if !ok {
		return imapserver.ErrAuthFailed
	}
	s.user = u
	return nil
}

func (s *session) loginToken(username, token string) error {
	s.srv.mu.RLock()
	u := s.srv.users[username]
	ok := u != nil && u.token != "" && subtle.ConstantTimeCompare([]byte(u.token), []byte(token)) == 1
	s.srv.mu.RUnlock()
	if !ok {
		return imapserver.ErrAuthFailed
	}
	s.user = u
	return nil
}

// AuthenticateMechanisms implements imapserver.SessionSASL.
func (s *session) AuthenticateMechanisms() []string {
	return []string{sasl.Plain, sasl.Login, "XOAUTH2", sasl.OAuthBearer}
}

// Authenticate implements imapserver.SessionSASL.
func (s *session) Authenticate(mech string) (sasl.Server, error) {
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return authErrors{sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return imapserver.ErrAuthFailed
			}
			return s.Login(username, password)
		})}, nil
	case sasl.Login:
		return &loginServer{login: s.Login}, nil
	case "XOAUTH2":
		return &xoauth2Server{login: s.loginToken}, nil
	case sasl.OAuthBearer:
		return authErrors{sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if s.loginToken(o.Username, o.Token) != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		})}, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported SASL mechanism"}
}

// authErrors makes every failure an AUTHENTICATIONFAILED answer rather
// than the imapserver's "internal server error".
type authErrors struct{ sasl.Server }

func (a authErrors) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := a.Server.Next(resp)
	if err != nil {
		var ie *imap.Error
		if !errors.As(err, &ie) {
			err = imapserver.ErrAuthFailed
		}
	}
	return ch, done, err
}

// loginServer is the obsolete LOGIN mechanism (draft-murchison-sasl-login):
// the username, then the password, each after a prompt.
type loginServer struct {
	login    func(user, pass string) error
	user     string
	haveUser bool
	step     int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case !l.haveUser && resp == nil && l.step == 0:
		l.step++
		return []byte("Username:"), false, nil
	case !l.haveUser:
		l.user, l.haveUser = string(resp), true
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.login(l.user, string(resp))
	}
}

// xoauth2Server is Google's XOAUTH2: "user=U\x01auth=Bearer T\x01\x01".
// A failure is a JSON challenge the client answers with an empty line.
type xoauth2Server struct {
	login  func(user, token string) error
	failed error
}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if x.failed != nil {
		return nil, true, x.failed
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	var user, token string
	for _, kv := range bytes.Split(resp, []byte{1}) {
		k, v, _ := strings.Cut(string(kv), "=")
		switch k {
		case "user":
			user = v
		case "auth":
			if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				token = v[7:]
			}
		}
	}
	if err := x.login(user, token); err != nil {
		x.failed = err
		ch, _ := json.Marshal(map[string]string{"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"})
		return ch, false, nil
	}
	return nil, true, nil
}
