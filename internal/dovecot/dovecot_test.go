package dovecot

import (
	"bufio"
	"crypto/tls"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestStartLoginAllTransports(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	srv := Start(t, nil)
	t.Logf("Start took %v", time.Since(t0))

	// Plain, implicit TLS (verified against CertPool), STARTTLS.
	dials := map[string]func() (*imapclient.Client, error){
		"insecure": func() (*imapclient.Client, error) { return imapclient.DialInsecure(srv.IMAPAddr, nil) },
		"tls": func() (*imapclient.Client, error) {
			return imapclient.DialTLS(srv.IMAPSAddr, &imapclient.Options{TLSConfig: tlsConfig(srv)})
		},
		"starttls": func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(srv.IMAPAddr, &imapclient.Options{TLSConfig: tlsConfig(srv)})
		},
	}
	for name, dial := range dials {
		t.Run(name, func(t *testing.T) {
			c, err := dial()
			if err != nil {
				t.Fatalf("dial = %v\n%s", err, srv.Log())
			}
			defer c.Close()
			for _, u := range srv.Users {
				if err := c.Login(u, srv.Password).Wait(); err != nil {
					t.Fatalf("Login(%s) = %v\n%s", u, err, srv.Log())
				}
				if err := c.Logout().Wait(); err != nil {
					t.Fatalf("Logout() = %v", err)
				}
				break // one login per connection; the loop shows Users is set
			}
		})
	}

	t.Run("tls-hostname-localhost", func(t *testing.T) {
		conf := tlsConfig(srv)
		conf.ServerName = "localhost"
		conn, err := tls.Dial("tcp", srv.POP3SAddr, conf)
		if err != nil {
			t.Fatalf("tls.Dial(POP3S) = %v", err)
		}
		defer conn.Close()
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("POP3S greeting = %q, %v", line, err)
		}
	})

	t.Run("wrong-password", func(t *testing.T) {
		// Two failures, then a good login: no per-IP penalty may delay it.
		for _, pass := range []string{"wrong", "wrong again", srv.Password} {
			c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = c.Login("alice", pass).Wait()
			c.Close()
			if (err == nil) != (pass == srv.Password) {
				t.Errorf("Login(alice, %q) = %v", pass, err)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("Login(alice, %q) took %v; want no failure penalty", pass, d)
			}
		}
	})
}

func TestSpecialUseFolders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  *Options
		delim rune
		want  map[string]imap.MailboxAttr
	}{
		{"plain", nil, '/', map[string]imap.MailboxAttr{
			"Drafts": imap.MailboxAttrDrafts, "Sent": imap.MailboxAttrSent, "Trash": imap.MailboxAttrTrash,
			"Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive}},
		{"courier", &Options{Namespace: NamespaceCourier}, '.', map[string]imap.MailboxAttr{
			"INBOX.Drafts": imap.MailboxAttrDrafts, "INBOX.Sent": imap.MailboxAttrSent, "INBOX.Trash": imap.MailboxAttrTrash,
			"INBOX.Junk": imap.MailboxAttrJunk, "INBOX.Archive": imap.MailboxAttrArchive}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *Server
			if tt.opts == nil {
				srv = Shared(t)
			} else {
				srv = Start(t, tt.opts)
			}
			if srv.Delimiter != tt.delim {
				t.Errorf("Delimiter = %q, want %q", srv.Delimiter, tt.delim)
			}
			user, pass := srv.NewUser(t)
			c := login(t, srv, user, pass)
			list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true, ReturnSubscribed: true}).Collect()
			if err != nil {
				t.Fatalf("LIST = %v", err)
			}
			got := map[string]imap.MailboxAttr{}
			var names []string
			for _, l := range list {
				names = append(names, l.Mailbox)
				if l.Delim != tt.delim {
					t.Errorf("LIST %s delimiter = %q, want %q", l.Mailbox, l.Delim, tt.delim)
				}
				for _, a := range l.Attrs {
					if a != imap.MailboxAttrSubscribed && a != imap.MailboxAttrHasNoChildren && a != imap.MailboxAttrHasChildren {
						got[l.Mailbox] = a
					}
				}
				if l.Mailbox != "INBOX" && !slices.Contains(l.Attrs, imap.MailboxAttrSubscribed) {
					t.Errorf("LIST %s is not subscribed", l.Mailbox)
				}
			}
			for name, attr := range tt.want {
				if got[name] != attr {
					t.Errorf("LIST %s attribute = %q, want %q (all: %v)", name, got[name], attr, names)
				}
			}
			if !slices.Contains(names, "INBOX") || len(names) != len(tt.want)+1 {
				t.Errorf("LIST = %v, want INBOX and %d special folders", names, len(tt.want))
			}
		})
	}
}

func TestNoSpecialFolders(t *testing.T) {
	t.Parallel()
	srv := Start(t, &Options{NoSpecialFolders: true, Users: []string{"erin"}, Password: "pw"})
	c := login(t, srv, "erin", "pw")
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST = %v", err)
	}
	if len(list) != 1 || list[0].Mailbox != "INBOX" {
		t.Fatalf("LIST = %v, want only INBOX", list)
	}
	// Created by a client, Sent still gets its attribute.
	if err := c.Create("Sent", nil).Wait(); err != nil {
		t.Fatalf("CREATE Sent = %v", err)
	}
	list, err = c.List("", "Sent", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil || len(list) != 1 || !slices.Contains(list[0].Attrs, imap.MailboxAttrSent) {
		t.Fatalf("LIST Sent = %v, %v; want \\Sent", list, err)
	}
}

func TestStopAndCleanup(t *testing.T) {
	t.Parallel()
	var srv *Server
	var dir string
	t.Run("inner", func(t *testing.T) {
		srv = Start(t, nil)
		dir = srv.Dir
		t0 := time.Now()
		srv.Stop()
		t.Logf("Stop took %v", time.Since(t0))
		if _, err := imapclient.DialInsecure(srv.IMAPAddr, nil); err == nil {
			t.Errorf("IMAP still answers after Stop")
		}
	})
	if dir == "" {
		t.Skip("dovecot unavailable")
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s still exists after the test's cleanup", dir)
	}
}
