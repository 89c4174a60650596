package imapsrv

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// awkward are messages real mailboxes hold and naive servers rewrite.
func awkward() []struct {
	name string
	raw  []byte
} {
	long := strings.Repeat("x", 10000)
	eightBit := []byte("Subject: caf\xe9 \xff\xfe\r\nFrom: J\xfcrgen <j@example.org>\r\n\r\nbody \xe9\r\n")
	return []struct {
		name string
		raw  []byte
	}{
		{"empty", []byte{}},
		{"no headers", []byte("just a body line\r\nand another\r\n")},
		{"no separator", []byte("Subject: only headers\r\nFrom: a@example.org\r\n")},
		{"no final newline", []byte("Subject: x\r\n\r\nno newline at the end")},
		{"bare LF", []byte("Subject: bare\nFrom: a@example.org\n\nline one\nline two\n")},
		{"mixed line ends", []byte("Subject: mix\r\nX: y\n\r\nbody\rcr only\n")},
		{"NUL", []byte("Subject: nul\r\n\r\nbefore\x00after\r\n\x00\x00\r\n")},
		{"raw 8-bit headers", eightBit},
		{"long lines", []byte("Subject: " + long + "\r\nX-Long: " + long + "\r\n\r\n" + long + "\r\n")},
		{"mbox From line", []byte("From someone@example.org Mon Jan  1 00:00:00 2024\r\nSubject: mbox\r\n\r\nFrom here on\r\n>From quoted\r\n")},
		{"starts with blank line", []byte("\r\nbody after an empty header\r\n")},
		{"dot lines", []byte("Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n")},
		{"literal-looking", []byte("Subject: {5}\r\n\r\n* 1 FETCH (BODY[] {3}\r\nabc)\r\nA1 OK done\r\n")},
	}
}

func TestFetchByteExact(t *testing.T) {
	srv := startServer(t, nil)
	date := time.Date(2021, 3, 4, 5, 6, 7, 0, time.FixedZone("", 5*3600+30*60))
	cases := awkward()
	uids := make([]uint32, len(cases))
	for i, tc := range cases {
		uids[i] = srv.AddMessage(testUser, "INBOX", tc.raw, nil, date)
	}
	c := dial(t, srv, nil)
	mustSelect(t, c, "INBOX")

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fetch(t, c, imap.UIDSetNum(imap.UID(uids[i])), &imap.FetchOptions{
				UID: true, Flags: true, RFC822Size: true, InternalDate: true,
				BodySection: []*imap.FetchItemBodySection{{Peek: true}},
			})
			if len(got) != 1 {
				t.Fatalf("UID FETCH %d returned %d messages, want 1", uids[i], len(got))
			}
			m := got[0]
			if s := m.sums["BODY[]"]; s != sum(tc.raw) {
				t.Errorf("BODY[] sha256 = %s (%d bytes %q), want %s (%d bytes)", s, m.lens["BODY[]"], m.bodies["BODY[]"], sum(tc.raw), len(tc.raw))
			}
			if m.size != int64(len(tc.raw)) {
				t.Errorf("RFC822.SIZE = %d, want %d", m.size, len(tc.raw))
			}
			if hasF(m.flags, imap.FlagSeen) {
				t.Errorf("FLAGS after BODY.PEEK[] = %v, want no \\Seen", m.flags)
			}
			if !m.date.Equal(date) || m.date.Format("-0700") != "+0530" {
				t.Errorf("INTERNALDATE = %v, want %v", m.date, date)
			}
		})
	}
}

func TestFetchLargeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB message")
	}
	raw := make([]byte, 50<<20)
	copy(raw, "Subject: big\r\n\r\n")
	for i := 16; i < len(raw); i++ {
		raw[i] = byte('a' + i%26)
		if i%1000 == 998 {
			raw[i] = '\r'
		} else if i%1000 == 999 {
			raw[i] = '\n'
		}
	}
	srv := startServer(t, nil)
	uid := srv.AddMessage(testUser, "INBOX", raw, nil, time.Time{})
	c := dial(t, srv, nil)
	mustSelect(t, c, "INBOX")
	got := fetch(t, c, imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{
		RFC822Size:  true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	if len(got) != 1 || got[0].sums["BODY[]"] != sum(raw) || got[0].size != int64(len(raw)) {
		t.Fatalf("FETCH of 50 MB message: %d messages, sha256 match %v, size %d; want 1, true, %d",
			len(got), len(got) == 1 && got[0].sums["BODY[]"] == sum(raw), got[0].size, len(raw))
	}
}

func TestFetchSections(t *testing.T) {
	raw := []byte("Subject: Hi\r\n there\r\nMessage-ID: <1@x>\nFrom: a@x\r\nsubject: again\r\n\r\nbody\nline\r\n")
	srv := startServer(t, nil)
	uid := srv.AddMessage(testUser, "INBOX", raw, nil, time.Time{})
	c := dial(t, srv, nil)
	mustSelect(t, c, "INBOX")

	tests := []struct {
		name string
		sec  *imap.FetchItemBodySection
		want string
	}{
		{"header", &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true},
			"Subject: Hi\r\n there\r\nMessage-ID: <1@x>\nFrom: a@x\r\nsubject: again\r\n\r\n"},
		{"text", &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true},
			"body\nline\r\n"},
		{"header fields", &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"message-id", "SUBJECT"}, Peek: true},
			"Subject: Hi\r\n there\r\nMessage-ID: <1@x>\nsubject: again\r\n\r\n"},
		{"header fields not", &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject"}, Peek: true},
			"Message-ID: <1@x>\nFrom: a@x\r\n\r\n"},
		{"partial", &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 4, Size: 6}},
			"ect: H"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fetch(t, c, imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{tc.sec}})
			if len(got) != 1 {
				t.Fatalf("FETCH returned %d messages, want 1", len(got))
			}
			var body []byte
			for _, b := range got[0].bodies {
				body = b
			}
			if string(body) != tc.want {
				t.Errorf("FETCH %s = %q, want %q", tc.name, body, tc.want)
			}
		})
	}
}

func TestFetchSetsSeen(t *testing.T) {
	tests := []struct {
		name     string
		peek     bool
		readOnly bool
		wantSeen bool
	}{
		{"BODY.PEEK[]", true, false, false},
		{"BODY[]", false, false, true},
		{"BODY[] on EXAMINE", false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, nil)
			uid := srv.AddMessage(testUser, "INBOX", []byte("Subject: s\r\n\r\nx\r\n"), []string{"$Label1"}, time.Time{})
			c := dial(t, srv, nil)
			if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: tc.readOnly}).Wait(); err != nil {
				t.Fatalf("Select() = %v", err)
			}
			fetch(t, c, imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: tc.peek}}})
			flags := srv.Messages(testUser, "INBOX")[0].Flags
			if got := hasFlag(flags, `\Seen`); got != tc.wantSeen {
				t.Errorf("flags after %s = %v, want \\Seen %v", tc.name, flags, tc.wantSeen)
			}
		})
	}
}

func TestUIDFetchStar(t *testing.T) {
	srv := startServer(t, nil)
	for range 3 {
		srv.AddMessage(testUser, "INBOX", []byte("Subject: x\r\n\r\n"), nil, time.Time{})
	}
	rc := dialRaw(t, srv, true)
	rc.mustOK("SELECT INBOX")
	tests := []struct {
		set  string
		want []string
	}{
		{"1:*", []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"}},
		// RFC 3501 6.4.8: "*" is the highest UID, so 10:* is 3:10.
		// (go-imap's client drops this answer as unsolicited.)
		{"10:*", []string{"* 3 FETCH (UID 3)"}},
		{"2:5", []string{"* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"}},
		{"7:9", nil},
	}
	for _, tc := range tests {
		t.Run(tc.set, func(t *testing.T) {
			lines := rc.mustOK("UID FETCH " + tc.set + " (UID)")
			var got []string
			for _, l := range lines[:len(lines)-1] {
				got = append(got, strings.TrimSpace(l))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("UID FETCH %s = %q, want %q", tc.set, got, tc.want)
			}
		})
	}
}

func TestSplitHeader(t *testing.T) {
	for _, tc := range awkward() {
		h, b := splitHeader(tc.raw)
		if !bytes.Equal(append(append([]byte{}, h...), b...), tc.raw) {
			t.Errorf("splitHeader(%s): header+body != raw", tc.name)
		}
	}
}

func TestFetchBinaryAndEnvelope(t *testing.T) {
	raw := []byte("Message-ID: <abc@example.org>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nFrom: Ann <ann@example.org>\r\n\r\n\x00\xff body\n")
	srv := startServer(t, nil)
	uid := srv.AddMessage(testUser, "INBOX", raw, nil, time.Time{})
	c := dial(t, srv, nil)
	mustSelect(t, c, "INBOX")
	got := fetch(t, c, imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{
		BinarySection: []*imap.FetchItemBinarySection{{Peek: true}},
	})
	if len(got) != 1 || !bytes.Equal(got[0].bodies["BINARY[]"], raw) {
		t.Errorf("FETCH BINARY.PEEK[] = %v, want the stored bytes", got)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH ENVELOPE = %v, %v", msgs, err)
	}
	env := msgs[0].Envelope
	if env.MessageID != "abc@example.org" || env.Subject != "caf\u00e9" || len(env.From) != 1 || env.From[0].Addr() != "ann@example.org" {
		t.Errorf("ENVELOPE = %+v, want Message-ID abc@example.org, Subject café, From ann@example.org", env)
	}
}
