package dovecot

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailkeep/mailkeep/internal/mutf7"
)

func TestSeedFetchByteExact(t *testing.T) {
	t.Parallel()
	srv := Shared(t)
	user, pass := srv.NewUser(t)
	date := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	long := strings.Repeat("x", 5000)
	msgs := []Message{
		{Raw: []byte("Subject: lf only\n\nline 1\n.dot line\n.\nend\n"), Flags: []string{`\Seen`}, Date: date},
		{Raw: []byte("Subject: crlf\r\n\r\nbody\r\nmixed bare lf\nend\r\n"), Flags: []string{`\Answered`, `\Flagged`}, Date: date.Add(time.Hour)},
		{Raw: []byte("Subject: no final newline\n\nlong " + long), Flags: nil, Date: date.Add(2 * time.Hour)},
		{Raw: []byte("Subject: =?UTF-8?B?R3LDvMOfZQ==?=\nX-Raw: Grüße\n\nlone\rCR and 8bit \xe2\x82\xac\n"),
			Flags: []string{`\Draft`, `\Deleted`, `$Forwarded`, `Work`}, Date: date.Add(3 * time.Hour)},
		{Raw: []byte("Subject: nul\n\nnul \x00 byte\n"), Date: date.Add(4 * time.Hour)},
	}
	folders := []string{"INBOX", "Archive/2019", "Entwürfe", "Projects/Q3 report & more"}
	for _, folder := range folders {
		srv.Seed(t, user, folder, msgs)
	}
	// A second Seed appends (and reuses the folder's keywords).
	srv.Seed(t, user, "Entwürfe", []Message{{Raw: []byte("Subject: again\n\nx\n"), Flags: []string{"work", "Other"}, Date: date}})

	c := login(t, srv, user, pass)
	list, err := c.List("", "*", &imap.ListOptions{ReturnSubscribed: true}).Collect()
	if err != nil {
		t.Fatalf("LIST = %v", err)
	}
	subscribed := map[string]bool{}
	for _, l := range list {
		subscribed[l.Mailbox] = slices.Contains(l.Attrs, imap.MailboxAttrSubscribed)
	}
	for _, folder := range folders {
		if !subscribed[folder] {
			t.Errorf("LIST: %q missing or not subscribed (got %v)", folder, subscribed)
		}
		got := fetchAll(t, c, folder)
		want := len(msgs)
		if folder == "Entwürfe" {
			want++
		}
		if len(got) != want {
			t.Fatalf("%s: fetched %d messages, want %d", folder, len(got), want)
		}
		for i, m := range msgs {
			served := ServedIMAP(m.Raw)
			if got[i].sum != sum(served) {
				t.Errorf("%s msg %d: BODY[] sha256 = %s (%d bytes), want ServedIMAP(raw) %s (%d bytes)",
					folder, i, got[i].sum, got[i].size, sum(served), len(served))
			}
			if !got[i].date.Equal(m.Date) {
				t.Errorf("%s msg %d: INTERNALDATE = %v, want %v", folder, i, got[i].date, m.Date)
			}
			if g, w := flagSet(got[i].flags), flagSet(toFlags(m.Flags)); g != w {
				t.Errorf("%s msg %d: FLAGS = %s, want %s", folder, i, g, w)
			}
		}
	}
	again := fetchAll(t, c, "Entwürfe")
	if g, w := flagSet(again[len(msgs)].flags), flagSet(toFlags([]string{"Work", "Other"})); g != w {
		t.Errorf("second seed: FLAGS = %s, want %s (keywords are case-insensitive; the first spelling stays)", g, w)
	}
}

func TestSeedErrors(t *testing.T) {
	t.Parallel()
	srv := Shared(t)
	user, _ := srv.NewUser(t)
	tests := []struct {
		name, user, folder string
		flags              []string
		want               string
	}{
		{"unknown user", "nobody-here", "INBOX", nil, "unknown user"},
		{"dot in name", user, "a.b", nil, "Maildir++"},
		{"bad system flag", user, "INBOX", []string{`\Bogus`}, "unknown system flag"},
		{"bad keyword", user, "INBOX", []string{"two words"}, "not an IMAP atom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := srv.seed(tt.user, tt.folder, []Message{{Raw: []byte("x\n"), Flags: tt.flags}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("seed() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	many := make([]string, 27)
	for i := range many {
		many[i] = fmt.Sprintf("k%d", i)
	}
	if err := srv.seed(user, "Many", []Message{{Raw: []byte("x\n"), Flags: many}}); err == nil || !strings.Contains(err.Error(), "26") {
		t.Errorf("seed(27 keywords) = %v, want the 26-keyword limit", err)
	}
}

func TestMaildirName(t *testing.T) {
	t.Parallel()
	plain := &Server{Delimiter: '/'}
	courier := &Server{Prefix: "INBOX.", Delimiter: '.'}
	tests := []struct {
		srv     *Server
		folder  string
		want    string
		wantErr bool
	}{
		{plain, "INBOX", "", false},
		{plain, "inbox", "", false},
		{plain, "Sent", ".Sent", false},
		{plain, "Archive/2019", ".Archive.2019", false},
		{plain, "Entwürfe", ".Entw&APw-rfe", false},
		{plain, "日本語/a&b", ".&ZeVnLIqe-.a&-b", false},
		{plain, "a.b", "", true},
		{plain, "a//b", "", true},
		{courier, "INBOX", "", false},
		{courier, "INBOX.Sent", ".Sent", false},
		{courier, "INBOX.Archive.2019", ".Archive.2019", false},
		{courier, "Sent", "", true},
	}
	for _, tt := range tests {
		got, err := tt.srv.maildirName(tt.folder)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("maildirName(%q, prefix %q) = %q, %v; want %q, error %v", tt.folder, tt.srv.Prefix, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestEncodeMUTF7(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"INBOX":     "INBOX",
		"a&b":       "a&-b",
		"Entwürfe":  "Entw&APw-rfe",
		"台北":        "&U,BTFw-",
		"日本語":       "&ZeVnLIqe-",
		"emoji🙂!":   "emoji&2D3eQg-!",
		"~peter/日本": "~peter/&ZeVnLA-",
	}
	for in, want := range tests {
		if got := mutf7.Encode(in); got != want {
			t.Errorf("mutf7.Encode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServed(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, imap, pop3 string }{
		{"", "", ""},
		{"a\nb\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\r\nb\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"\n\n", "\r\n\r\n", "\r\n\r\n"},
		{"lone\rcr", "lone\rcr", "lone\rcr"},
		{"no newline", "no newline", "no newline"},
		{"\r\r\n", "\r\r\n", "\r\r\n"},
		{"x\x00y\n", "x\x80y\r\n", "x\x00y\r\n"},
		{"\xff bytes\n", "\xff bytes\r\n", "\xff bytes\r\n"},
	}
	for _, tt := range tests {
		if got := string(ServedIMAP([]byte(tt.in))); got != tt.imap {
			t.Errorf("ServedIMAP(%q) = %q, want %q", tt.in, got, tt.imap)
		}
		if got := string(ServedPOP3([]byte(tt.in))); got != tt.pop3 {
			t.Errorf("ServedPOP3(%q) = %q, want %q", tt.in, got, tt.pop3)
		}
	}
}

func toFlags(fs []string) []imap.Flag {
	var out []imap.Flag
	for _, f := range fs {
		out = append(out, imap.Flag(f))
	}
	return out
}

// flagSet is a canonical, case-insensitive rendering of a flag list.
func flagSet(fs []imap.Flag) string {
	var s []string
	for _, f := range fs {
		s = append(s, strings.ToLower(string(f)))
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), " ")
}
