package imapsrv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func appendMsg(c *imapclient.Client, mailbox string, raw []byte, opts *imap.AppendOptions) (*imap.AppendData, error) {
	cmd := c.Append(mailbox, int64(len(raw)), opts)
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return nil, err
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	return cmd.Wait()
}

func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

func TestAppendByteExact(t *testing.T) {
	srv := startServer(t, nil)
	c := dial(t, srv, nil)
	zone := time.FixedZone("", -(3*3600 + 30*60))
	date := time.Date(2019, 12, 31, 23, 59, 58, 0, zone)
	for _, tc := range awkward() {
		t.Run(tc.name, func(t *testing.T) {
			data, err := appendMsg(c, "INBOX", tc.raw, &imap.AppendOptions{
				Flags: []imap.Flag{imap.FlagSeen, "$Label1", "NonJunk"},
				Time:  date,
			})
			if err != nil {
				t.Fatalf("Append() = %v", err)
			}
			if data.UID == 0 || data.UIDValidity != srv.UIDValidity(testUser, "INBOX") {
				t.Errorf("APPENDUID = %d %d, want a UID and %d", data.UIDValidity, data.UID, srv.UIDValidity(testUser, "INBOX"))
			}
			var got *Message
			for _, m := range srv.Messages(testUser, "INBOX") {
				if m.UID == uint32(data.UID) {
					got = &m
				}
			}
			if got == nil {
				t.Fatalf("Messages() has no UID %d", data.UID)
			}
			if !bytes.Equal(got.Raw, tc.raw) {
				t.Errorf("stored %q, want %q", got.Raw, tc.raw)
			}
			if strings.Join(got.Flags, " ") != `\Seen $Label1 NonJunk` {
				t.Errorf("stored flags %q, want \\Seen $Label1 NonJunk", got.Flags)
			}
			if !got.Date.Equal(date) || got.Date.Format("-0700") != "-0330" {
				t.Errorf("stored date %v, want %v", got.Date, date)
			}
		})
	}
}

func TestKeywordsKeepCase(t *testing.T) {
	srv := startServer(t, nil)
	uid := srv.AddMessage(testUser, "INBOX", []byte("Subject: k\r\n\r\n"), []string{"$Label1", `\seen`}, time.Time{})
	c := dial(t, srv, nil)
	mustSelect(t, c, "INBOX")
	if err := c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{
		Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"$label1", "MyTag", "$Forwarded"},
	}, nil).Close(); err != nil {
		t.Fatalf("Store() = %v", err)
	}
	got := fetch(t, c, imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{Flags: true})
	want := []imap.Flag{"$Label1", imap.FlagSeen, "MyTag", "$Forwarded"}
	if len(got) != 1 || len(got[0].flags) != len(want) {
		t.Fatalf("FETCH FLAGS = %v, want %v", got, want)
	}
	for i := range want {
		if got[0].flags[i] != want[i] {
			t.Errorf("FETCH FLAGS = %v, want %v", got[0].flags, want)
			break
		}
	}
}

func TestAppendTryCreate(t *testing.T) {
	srv := startServer(t, nil)
	c := dial(t, srv, nil)
	_, err := appendMsg(c, "Missing", []byte("Subject: x\r\n\r\n"), nil)
	if imapCode(err) != imap.ResponseCodeTryCreate {
		t.Errorf("Append(Missing) = %v, want NO [TRYCREATE]", err)
	}
	mustSelect(t, c, "INBOX")
	srv.AddMessage(testUser, "INBOX", []byte("x"), nil, time.Time{})
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Missing").Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
		t.Errorf("Copy(Missing) = %v, want NO [TRYCREATE]", err)
	}
}

func TestAppendTooBig(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"non-synchronizing literal", 2000}, // LITERAL- for up to 4096 bytes
		{"synchronizing literal", 9000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &Options{AppendLimit: 1000})
			c := dial(t, srv, nil)
			if !c.Caps().Has("APPENDLIMIT=1000") {
				t.Errorf("Caps() = %v, want APPENDLIMIT=1000", c.Caps())
			}
			// Body lines that a confused server would run as commands.
			body := strings.Repeat("X1 CREATE Injected\r\n", tc.size/20)
			_, err := appendMsg(c, "INBOX", []byte(body), nil)
			if imapCode(err) != imap.ResponseCodeTooBig {
				t.Fatalf("Append(%d bytes) = %v, want NO [TOOBIG]", len(body), err)
			}
			// go-imap's client closes its connection when a synchronizing
			// literal is refused; the server side stays usable.
			if err := c.Noop().Wait(); err != nil && tc.size <= 4096 {
				t.Fatalf("Noop() after TOOBIG = %v", err)
			} else if err != nil {
				c = dial(t, srv, nil)
			}
			if _, err := appendMsg(c, "INBOX", []byte("Subject: small\r\n\r\n"), nil); err != nil {
				t.Errorf("Append(small) after TOOBIG = %v", err)
			}
			for _, mb := range srv.Mailboxes(testUser) {
				if mb.Name == "Injected" {
					t.Errorf("the body of a refused APPEND ran as commands")
				}
			}
		})
	}
}

func TestCapabilitySwitches(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		want    []imap.Cap
		notWant []imap.Cap
	}{
		{"defaults", Options{}, []imap.Cap{imap.CapUIDPlus, imap.CapMove, imap.CapSpecialUse, imap.CapCreateSpecialUse, imap.CapCondStore, imap.CapListStatus, imap.CapIdle, imap.CapNamespace}, []imap.Cap{imap.CapStartTLS}},
		{"no UIDPLUS", Options{DisableUIDPlus: true}, []imap.Cap{imap.CapMove}, []imap.Cap{imap.CapUIDPlus}},
		{"no MOVE", Options{DisableMove: true}, []imap.Cap{imap.CapUIDPlus}, []imap.Cap{imap.CapMove}},
		{"no SPECIAL-USE", Options{DisableSpecialUse: true}, nil, []imap.Cap{imap.CapSpecialUse, imap.CapCreateSpecialUse}},
		{"no CONDSTORE", Options{DisableCondStore: true}, nil, []imap.Cap{imap.CapCondStore}},
		{"no LIST-STATUS", Options{DisableListStatus: true}, nil, []imap.Cap{imap.CapListStatus}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &tc.opts)
			c := dial(t, srv, nil)
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatalf("Capability() = %v", err)
			}
			for _, cp := range tc.want {
				if !caps.Has(cp) {
					t.Errorf("Capability() = %v, want %s", caps, cp)
				}
			}
			for _, cp := range tc.notWant {
				if caps.Has(cp) {
					t.Errorf("Capability() = %v, want no %s", caps, cp)
				}
			}
		})
	}
}

// TestWithoutExtensions checks that a switched-off extension is refused,
// not just unadvertised.
func TestWithoutExtensions(t *testing.T) {
	srv := startServer(t, &Options{DisableUIDPlus: true, DisableMove: true, DisableSpecialUse: true, DisableListStatus: true, DisableCondStore: true})
	srv.AddMessage(testUser, "INBOX", []byte("Subject: a\r\n\r\n"), []string{`\Deleted`}, time.Time{})
	srv.AddMailbox(testUser, "Sent", imap.MailboxAttrSent)
	rc := dialRaw(t, srv, true)
	rc.mustOK("SELECT INBOX")
	tests := []struct {
		cmd  string
		want string // in the tagged response
	}{
		{"UID EXPUNGE 1", " BAD "},
		{"UID MOVE 1 Sent", " BAD "},
		{"SELECT INBOX (CONDSTORE)", " BAD "},
		{`LIST "" "*" RETURN (STATUS (MESSAGES))`, " BAD "},
		{`CREATE Archive (USE (\Archive))`, " BAD "},
		{"UID COPY 1 Sent", " OK COPY"}, // no [COPYUID]
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			lines := rc.cmd(tc.cmd)
			if last := lines[len(lines)-1]; !strings.Contains(last, tc.want) {
				t.Errorf("%s = %q, want %q", tc.cmd, last, tc.want)
			}
			if tc.cmd == "SELECT INBOX (CONDSTORE)" {
				rc.mustOK("SELECT INBOX")
			}
		})
	}
	lines := rc.mustOK(`LIST "" "*"`)
	if strings.Contains(strings.Join(lines, ""), `\Sent`) {
		t.Errorf("LIST without SPECIAL-USE = %q, want no \\Sent", lines)
	}
	c := dial(t, srv, nil)
	data, err := appendMsg(c, "INBOX", []byte("x"), nil)
	if err != nil || data.UID != 0 {
		t.Errorf("Append() without UIDPLUS = %+v, %v; want no APPENDUID", data, err)
	}
}

// TestRefusedLiteralsWire checks that literals the server refuses before
// reading them are not run as commands, and that the connection stays in
// step (imapserver alone would run the bytes of a non-synchronizing one).
func TestRefusedLiteralsWire(t *testing.T) {
	inject := strings.Repeat("T9 CREATE Injected\r\n", 300) // 6000 bytes
	tests := []struct {
		name  string
		send  string
		reply string // in the tagged answer
	}{
		{"APPEND over the limit, non-synchronizing", "T1 APPEND INBOX {20+}\r\n" + inject[:20] + "\r\n", "NO [TOOBIG]"},
		{"APPEND over the limit, synchronizing", "T1 APPEND INBOX {6000}\r\n", "NO [TOOBIG]"},
		{"non-synchronizing literal over 4096", fmt.Sprintf("T1 CREATE {%d+}\r\n%s\r\n", len(inject), inject), "T1 BAD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &Options{AppendLimit: 10})
			rc := dialRaw(t, srv, true)
			if _, err := io.WriteString(rc.conn, tc.send); err != nil {
				t.Fatal(err)
			}
			lines := rc.until("T1")
			if last := lines[len(lines)-1]; !strings.Contains(last, tc.reply) {
				t.Errorf("answer = %q, want %q", last, tc.reply)
			}
			rc.n = 1
			lines = rc.mustOK("SELECT INBOX (CONDSTORE)")
			if !strings.Contains(strings.Join(lines, ""), "HIGHESTMODSEQ") {
				t.Errorf("SELECT (CONDSTORE) after the refusal = %q, want HIGHESTMODSEQ", lines)
			}
			for _, mb := range srv.Mailboxes(testUser) {
				if mb.Name == "Injected" {
					t.Errorf("the literal of a refused command ran as a command")
				}
			}
		})
	}
}
