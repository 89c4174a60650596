package pop3

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

func TestAuth(t *testing.T) {
	sasl := []string{"PLAIN", "XOAUTH2", "OAUTHBEARER"}
	tests := []struct {
		name   string
		opts   pop3srv.Options
		mech   string
		secret string
		code   string // "" = success expected
	}{
		{"user", pop3srv.Options{}, "user", testPass, ""},
		{"user wrong", pop3srv.Options{}, "user", "wrong pass", "AUTH"},
		{"apop", pop3srv.Options{APOP: true}, "apop", testPass, ""},
		{"apop wrong", pop3srv.Options{APOP: true}, "apop", "wrong pass", "AUTH"},
		{"plain", pop3srv.Options{SASL: sasl}, "plain", testPass, ""},
		{"plain wrong", pop3srv.Options{SASL: sasl}, "plain", "wrong pass", "AUTH"},
		{"xoauth2", pop3srv.Options{SASL: sasl}, "xoauth2", testPass, ""},
		{"xoauth2 wrong", pop3srv.Options{SASL: sasl}, "xoauth2", "expired-token", "AUTH"},
		{"oauthbearer", pop3srv.Options{SASL: sasl}, "oauthbearer", testPass, ""},
		{"oauthbearer wrong", pop3srv.Options{SASL: sasl}, "oauthbearer", "expired-token", "AUTH"},
		{"auto picks user", pop3srv.Options{SASL: sasl, APOP: true}, "", testPass, ""},
		{"auto picks plain", pop3srv.Options{DisableUSER: true, SASL: sasl}, "", testPass, ""},
		{"auto picks apop", pop3srv.Options{DisableUSER: true, APOP: true}, "", testPass, ""},
		{"auto without capa", pop3srv.Options{DisableCAPA: true}, "", testPass, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &tc.opts, []byte("m\r\n"))
			trace := &syncBuffer{}
			c := dial(t, srv, &Options{Security: "none", Timeout: 5e9, Trace: trace})
			err := c.Auth(context.Background(), testUser, tc.secret, tc.mech)
			if strings.Contains(trace.String(), tc.secret) {
				t.Errorf("trace contains the secret:\n%s", trace)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Auth(%q) = %v, want nil", tc.mech, err)
				}
				if _, _, err := c.Stat(context.Background()); err != nil {
					t.Fatalf("Stat() after Auth = %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("Auth(%q) = %v, want *Error with code %s", tc.mech, err, tc.code)
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("Auth() error %q contains the secret", err)
			}
			if Temporary(err) {
				t.Errorf("Temporary(%v) = true, want false", err)
			}
			// A failed login leaves the session usable for another try.
			if err := c.Auth(context.Background(), testUser, testPass, tc.mech); err != nil {
				t.Errorf("Auth() retry with the right secret = %v", err)
			}
		})
	}
}

func TestAuthXOAUTH2TwoStep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		want  []string
	}{
		{"accepted", testPass, []string{"AUTH XOAUTH2", b64("user=" + testUser + "\x01auth=Bearer " + testPass + "\x01\x01")}},
		// On the JSON error challenge the client answers an empty line.
		{"rejected", "bad-token", []string{"AUTH XOAUTH2", b64("user=" + testUser + "\x01auth=Bearer bad-token\x01\x01"), ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &pop3srv.Options{SASL: []string{"XOAUTH2"}})
			c := dial(t, srv, nil)
			err := c.Auth(context.Background(), testUser, tc.token, "xoauth2")
			if (err == nil) != (tc.token == testPass) {
				t.Fatalf("Auth() = %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), `"status":"401"`) {
				t.Errorf("Auth() error = %v, want the server's challenge in it", err)
			}
			got := srv.Commands()[1:] // after CAPA
			if len(got) > len(tc.want) {
				got = got[:len(tc.want)]
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("server received %q, want %q", got, tc.want)
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAuthBadCharsNotSent(t *testing.T) {
	tests := []struct {
		name, user, secret string
	}{
		{"CRLF in password", testUser, "pw\r\nDELE 1"},
		{"LF in password", testUser, "pw\nQUIT"},
		{"CR in user", "al\rice", testPass},
		{"NUL in password", testUser, "pw\x00x"},
	}
	for _, tc := range tests {
		for _, mech := range []string{"", "user", "apop", "plain", "xoauth2", "oauthbearer"} {
			t.Run(tc.name+" "+mech, func(t *testing.T) {
				srv := startServer(t, &pop3srv.Options{APOP: true, SASL: []string{"PLAIN", "XOAUTH2"}}, []byte("m\r\n"))
				c := dial(t, srv, nil)
				err := c.Auth(context.Background(), tc.user, tc.secret, mech)
				if !errors.Is(err, ErrBadChars) {
					t.Fatalf("Auth() = %v, want ErrBadChars", err)
				}
				if strings.Contains(err.Error(), tc.secret) || strings.Contains(err.Error(), "pw") {
					t.Errorf("Auth() error %q shows the secret", err)
				}
				if got := srv.Commands(); len(got) != 1 || got[0] != "CAPA" {
					t.Errorf("server received %q, want only the CAPA of Dial", got)
				}
				if err := c.Auth(context.Background(), testUser, testPass, "user"); err != nil {
					t.Errorf("Auth() after a refused Auth = %v, want nil", err)
				}
			})
		}
	}
}

func TestAuthSecretScrubbedFromServerText(t *testing.T) {
	srv := startServer(t, &pop3srv.Options{Hooks: pop3srv.Hooks{
		Command: func(c pop3srv.Call) *pop3srv.Fault {
			if c.Verb == "PASS" { // a server that echoes what it got
				return &pop3srv.Fault{Err: "[AUTH] bad password " + c.Args[0]}
			}
			return nil
		},
	}})
	c := dial(t, srv, nil)
	err := c.Auth(context.Background(), testUser, testPass, "user")
	if err == nil || strings.Contains(err.Error(), testPass) {
		t.Fatalf("Auth() = %v, want an error without the secret", err)
	}
}

func TestInUse(t *testing.T) {
	srv := startServer(t, nil, []byte("m\r\n"))
	login(t, srv, nil)
	c2 := dial(t, srv, nil)
	err := c2.Auth(context.Background(), testUser, testPass, "user")
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "IN-USE" {
		t.Fatalf("second Auth() = %v, want *Error code IN-USE", err)
	}
	if !Temporary(err) {
		t.Errorf("Temporary(%v) = false, want true", err)
	}
}
