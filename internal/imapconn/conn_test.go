package imapconn_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

func TestLoginMechanisms(t *testing.T) {
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("alice", "pa ss\"word")
	if err := srv.SetToken("alice", "tok-123"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		auth, secret string
		ok           bool
	}{
		{"", "pa ss\"word", true},
		{"login", "pa ss\"word", true},
		{"plain", "pa ss\"word", true},
		{"xoauth2", "tok-123", true},
		{"oauthbearer", "tok-123", true},
		{"plain", "wrong", false},
		{"xoauth2", "expired-token", false},
	} {
		t.Run(tc.auth+"/"+tc.secret, func(t *testing.T) {
			var trace bytes.Buffer
			c, err := imapconn.Dial(context.Background(), &imapconn.Options{Addr: srv.Addr(), Security: "none", Username: "alice", Auth: tc.auth,
				Timeout: 5 * time.Second, Trace: &trace, Secret: func(context.Context) (string, error) { return tc.secret, nil }})
			if tc.ok != (err == nil) {
				t.Fatalf("Dial(auth %q) = %v, want ok=%v", tc.auth, err, tc.ok)
			}
			if err == nil {
				c.Close()
			} else if !imapconn.Permanent(err) || strings.Contains(err.Error(), tc.secret) {
				t.Errorf("login failure %v: want permanent, without the secret", err)
			}
			if strings.Contains(trace.String(), tc.secret) {
				t.Errorf("trace contains the secret:\n%s", trace.String())
			}
			if trace.Len() == 0 {
				t.Errorf("no protocol trace written")
			}
		})
	}
}

func TestRefusesControlCharacters(t *testing.T) {
	srv := imapsrv.New(&imapsrv.Options{Trace: nil})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("alice", "x")
	var trace bytes.Buffer
	_, err := imapconn.Dial(context.Background(), &imapconn.Options{Addr: srv.Addr(), Security: "none", Username: "alice", Timeout: 5 * time.Second,
		Trace: &trace, Secret: func(context.Context) (string, error) { return "x\r\nA1 DELETE INBOX", nil }})
	if err == nil || !imapconn.Permanent(err) || !strings.Contains(err.Error(), "CR, LF or NUL") {
		t.Fatalf("Dial with CR LF in the password = %v; want a permanent refusal", err)
	}
	if strings.Contains(trace.String(), "DELETE") || strings.Contains(trace.String(), " LOGIN ") || strings.Contains(trace.String(), "AUTHENTICATE") {
		t.Fatalf("something was sent:\n%s", trace.String())
	}
}

func TestContextCancelUnblocks(t *testing.T) {
	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("alice", "x")
	ctx, cancel := context.WithCancel(context.Background())
	c, err := imapconn.Dial(ctx, &imapconn.Options{Addr: srv.Addr(), Security: "none", Username: "alice", Timeout: time.Minute,
		Secret: func(context.Context) (string, error) { return "x", nil }})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-c.Client.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the context did not close the connection")
	}
	c.Close()
}
