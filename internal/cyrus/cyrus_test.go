package cyrus

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

var layouts = []Layout{LayoutDebian, LayoutAlt}

// fetchBodies returns BODY.PEEK[] of every message of a folder, by UID.
func fetchBodies(t *testing.T, c *imapclient.Client, folder string) map[imap.UID][]byte {
	t.Helper()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("Select(%q) = %v", folder, err)
	}
	cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	out := map[imap.UID][]byte{}
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		var body []byte
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = item.UID
			case imapclient.FetchItemDataBodySection:
				body, _ = io.ReadAll(item.Literal)
			}
		}
		out[uid] = body
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("FETCH %q = %v", folder, err)
	}
	return out
}

func TestLayouts(t *testing.T) {
	for _, layout := range layouts {
		t.Run(layout.String(), func(t *testing.T) {
			t.Parallel()
			t0 := time.Now()
			srv := Shared(t, layout)
			t.Logf("Shared(%v) took %v", layout, time.Since(t0))
			user, _ := srv.NewUser(t)
			c := srv.Login(t, user)
			ns, err := c.Namespace().Wait()
			if err != nil {
				t.Fatalf("NAMESPACE = %v", err)
			}
			if len(ns.Personal) != 1 || ns.Personal[0].Prefix != srv.Prefix || ns.Personal[0].Delim != srv.Delimiter {
				t.Errorf("NAMESPACE personal = %+v, want prefix %q delimiter %q", ns.Personal, srv.Prefix, srv.Delimiter)
			}
			folder := srv.Folder("Archive", "2019")
			want := map[string]string{LayoutDebian.String(): "INBOX.Archive.2019", LayoutAlt.String(): "Archive/2019"}[layout.String()]
			if folder != want {
				t.Errorf("Folder(Archive, 2019) = %q, want %q", folder, want)
			}
			raw := []byte("From: a@example.com\r\nSubject: hello\r\nMessage-ID: <l1@example.com>\r\n\r\nbody\r\n")
			date := time.Date(2019, 3, 15, 10, 20, 30, 0, time.UTC)
			uids := srv.Append(t, user, folder, []Message{{Raw: raw, Flags: []string{`\Seen`, "$Label1"}, Date: date}})
			if len(uids) != 1 || uids[0] == 0 {
				t.Fatalf("Append() = %v, want one UID", uids)
			}
			got := fetchBodies(t, c, folder)
			if !bytes.Equal(got[uids[0]], raw) {
				t.Errorf("BODY[] = %q, want %q", got[uids[0]], raw)
			}
			list, err := c.List("", "*", &imap.ListOptions{ReturnSubscribed: true}).Collect()
			if err != nil {
				t.Fatalf("LIST = %v", err)
			}
			var names []string
			for _, l := range list {
				names = append(names, l.Mailbox)
			}
			if !slices.Contains(names, folder) || !slices.Contains(names, "INBOX") {
				t.Errorf("LIST = %q, want INBOX and %q", names, folder)
			}
		})
	}
}

func TestSharedAndPublicFolders(t *testing.T) {
	for _, layout := range layouts {
		t.Run(layout.String(), func(t *testing.T) {
			t.Parallel()
			srv := Shared(t, layout)
			user, _ := srv.NewUser(t)
			owner := "m4-" + layout.String()
			sh := srv.ShareFolder(t, owner, []string{"Shared"}, user, "lrs")
			pub := srv.PublicFolder(t, []string{"Public-" + userSlug(t.Name())}, user, "lr")
			wantShared := map[Layout]string{LayoutDebian: "user." + owner + ".Shared", LayoutAlt: "Other Users/" + owner + "/Shared"}[layout]
			if sh.AsGrantee != wantShared {
				t.Errorf("AsGrantee = %q, want %q", sh.AsGrantee, wantShared)
			}
			msg := []byte("From: m4@example.com\r\nSubject: shared\r\n\r\nfor everyone\r\n")
			srv.Append(t, owner, sh.AsOwner, []Message{{Raw: msg}})
			srv.Append(t, srv.Admin, pub.Internal, []Message{{Raw: msg}, {Raw: msg}})

			c := srv.Login(t, user)
			list, err := c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatalf("LIST = %v", err)
			}
			var names []string
			for _, l := range list {
				names = append(names, l.Mailbox)
			}
			for _, n := range []string{sh.AsGrantee, pub.AsGrantee} {
				if !slices.Contains(names, n) {
					t.Errorf("LIST as %s = %q, want %q among them", user, names, n)
				}
			}
			if got := fetchBodies(t, c, sh.AsGrantee); len(got) != 1 {
				t.Errorf("messages in %q = %d, want 1", sh.AsGrantee, len(got))
			}
			if got := fetchBodies(t, c, pub.AsGrantee); len(got) != 2 {
				t.Errorf("messages in %q = %d, want 2", pub.AsGrantee, len(got))
			}
			rights, err := c.MyRights(sh.AsGrantee).Wait()
			if err != nil {
				t.Fatalf("MYRIGHTS = %v", err)
			}
			if string(rights.Rights) != "lrs" {
				t.Errorf("MYRIGHTS %q = %q, want lrs", sh.AsGrantee, rights.Rights)
			}
		})
	}
}

func TestDeliverAndPOP3(t *testing.T) {
	srv := Shared(t, LayoutDebian)
	user, pass := srv.NewUser(t)
	raw := []byte("From: a@example.com\r\nSubject: lmtp\r\nMessage-ID: <lmtp-1@example.com>\r\n" +
		"Date: Fri, 15 Mar 2019 10:20:30 +0100\r\n\r\n.leading dot\r\nbody\r\n")
	srv.Deliver(t, user, raw)
	c := srv.Login(t, user)
	got := fetchBodies(t, c, "INBOX")
	if len(got) != 1 {
		t.Fatalf("INBOX holds %d messages, want 1", len(got))
	}
	for _, b := range got {
		// lmtpd adds a Return-Path and Received header at the top.
		if !bytes.HasSuffix(b, raw) || !bytes.HasPrefix(b, []byte("Return-Path: <>\r\n")) {
			t.Errorf("delivered = %q, want it to end with the message", b)
		}
	}

	conn, err := net.Dial("tcp", srv.POP3Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	cmd := func(line string) string {
		if line != "" {
			conn.Write([]byte(line + "\r\n"))
		}
		resp, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(resp, "+OK") {
			t.Fatalf("POP3 %q = %q, %v", line, resp, err)
		}
		return resp
	}
	cmd("")
	cmd("USER " + user)
	cmd("PASS " + pass)
	if resp := cmd("STAT"); !strings.HasPrefix(resp, "+OK 1 ") {
		t.Errorf("STAT = %q, want one message", resp)
	}
	cmd("QUIT")
}

func TestTLS(t *testing.T) {
	srv := Shared(t, LayoutAlt)
	c, err := imapclient.DialTLS(srv.IMAPSAddr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: srv.CertPool()}})
	if err != nil {
		t.Fatalf("DialTLS = %v", err)
	}
	defer c.Close()
	if err := c.Login(srv.Users[0], srv.Password).Wait(); err != nil {
		t.Fatalf("Login = %v", err)
	}
	c2, err := imapclient.DialStartTLS(srv.IMAPAddr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: srv.CertPool()}})
	if err != nil {
		t.Fatalf("DialStartTLS = %v", err)
	}
	defer c2.Close()
	if err := c2.Login(srv.Users[1], srv.Password).Wait(); err != nil {
		t.Fatalf("Login = %v", err)
	}
}

func TestMunged(t *testing.T) {
	srv := Shared(t, LayoutDebian)
	user, _ := srv.NewUser(t)
	raw := []byte("From: a@example.com\r\nX-Name: J\xc3\xbcrgen\r\n\r\nbody \xc3\xa4\r\n")
	uids := srv.Append(t, user, "INBOX", []Message{{Raw: raw}})
	got := fetchBodies(t, srv.Login(t, user), "INBOX")[uids[0]]
	if want := Munged(raw); !bytes.Equal(got, want) {
		t.Errorf("served %q, want Munged() = %q", got, want)
	}
}
