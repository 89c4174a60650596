package dovecot

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestNewUserIsolation(t *testing.T) {
	t.Parallel()
	srv := Shared(t)
	u1, p1 := srv.NewUser(t)
	u2, p2 := srv.NewUser(t)
	if u1 == u2 || p1 == p2 {
		t.Fatalf("NewUser twice = (%s, %s), (%s, %s); want distinct names and passwords", u1, p1, u2, p2)
	}
	srv.Seed(t, u1, "INBOX", []Message{{Raw: []byte("Subject: a\n\na\n")}, {Raw: []byte("Subject: b\n\nb\n")}})
	srv.Seed(t, u1, "Only/Mine", []Message{{Raw: []byte("Subject: c\n\nc\n")}})

	count := func(user, pass string) uint32 {
		c := login(t, srv, user, pass)
		data, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatalf("SELECT INBOX as %s = %v", user, err)
		}
		list, err := c.List("", "Only*", nil).Collect()
		if err != nil {
			t.Fatalf("LIST as %s = %v", user, err)
		}
		if user == u2 && len(list) != 0 {
			t.Errorf("%s sees %v of another user", user, list)
		}
		return data.NumMessages
	}
	if got := count(u1, p1); got != 2 {
		t.Errorf("%s INBOX holds %d messages, want 2", u1, got)
	}
	if got := count(u2, p2); got != 0 {
		t.Errorf("%s INBOX holds %d messages, want 0", u2, got)
	}

	c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(u2, p1).Wait(); err == nil {
		t.Errorf("Login(%s, password of %s) succeeded", u2, u1)
	}
}

// Dovecot re-reads a changed passwd-file at most once a second; users
// created and logging in one after another within that second must all
// get in.
func TestNewUserLoginAtOnce(t *testing.T) {
	t.Parallel()
	srv := Shared(t)
	for i := range 12 {
		user, pass := srv.NewUser(t)
		c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login(user, pass).Wait()
		if err == nil {
			_, err = c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		}
		c.Close()
		if err != nil {
			t.Fatalf("user %d (%s) = %v\n%s", i, user, err, srv.Log())
		}
	}
	out, err := srv.Doveadm("user", "-f", "home", "alice")
	if want := srv.Dir + "/mail/alice"; err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("Doveadm(user -f home alice) = %q, %v; want %q", out, err, want)
	}
}

func TestUserSlug(t *testing.T) {
	tests := map[string]string{
		"TestFoo":             "testfoo",
		"TestFoo/sub_case#01": "testfoo-sub-case-01",
		"Test/ünïcode/@x":     "test-n-code-x",
		"":                    "user",
		"TestAVeryLongNameThatGoesOnAndOnForeverAndEver": "testaverylongnamethatgoesonandonforevera",
	}
	for in, want := range tests {
		if got := userSlug(in); got != want {
			t.Errorf("userSlug(%q) = %q, want %q", in, got, want)
		}
	}
}
