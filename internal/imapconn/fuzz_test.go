package imapconn_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/imapconn"
)

// FuzzAppendClient plays an arbitrary server against mailkeep's own IMAP
// client, the one that APPENDs (greeting, CAPABILITY, LOGIN, a
// MULTIAPPEND of two messages, LOGOUT): whatever the server sends,
// the client never panics, never hangs past its timeout, and reports
// APPENDUIDs only as many as it sent messages.
func FuzzAppendClient(f *testing.F) {
	for _, s := range []string{
		"* OK ready\r\nM1 OK [CAPABILITY IMAP4rev1 MULTIAPPEND UIDPLUS] done\r\nM2 OK [CAPABILITY IMAP4rev1 MULTIAPPEND UIDPLUS] logged in\r\n+ go\r\n+ go\r\nM3 OK [APPENDUID 7 1:2] done\r\n",
		"* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\nM1 OK\r\nM2 OK\r\n+\r\nM3 NO [TRYCREATE] no such mailbox\r\n",
		"* OK hi\r\n* CAPABILITY IMAP4rev1 {5}\r\nabcde\r\nM1 OK\r\nM2 OK\r\n+ \r\nM3 OK [APPENDUID 1 4294967295:1] x\r\n",
		"* OK hi\r\nM1 OK\r\nM2 OK\r\n+ go\r\n* BYE going away\r\n",
		"* OK hi\r\nM1 OK\r\nM2 OK\r\nM3 BAD [PARSE] bad\r\n",
		"* PREAUTH hi\r\n* OK {99999999999}\r\n",
		"* OK hi\r\nM1 OK\r\nM2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
		"* OK hi\r\nM1 OK\r\nM2 OK\r\nM3 OK [CAPABILITY IMAP4rev1 UIDPLUS]\r\n+ go\r\n+ go\r\nM4 OK [APPENDUID 7 1,2,3,4] done\r\n",
		"* OK hi\r\n" + strings.Repeat("x", 70000) + "\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		start := time.Now()
		res, err := playAppend(t, script)
		if err == nil {
			if len(res.UIDs) != 0 && len(res.UIDs) != 2 {
				t.Fatalf("%d APPENDUIDs for 2 messages", len(res.UIDs))
			}
			if res.Sent > 2 {
				t.Fatalf("sent %d of 2 messages", res.Sent)
			}
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("the client took %v on a server that had closed", d)
		}
	})
}

// TestAppendClientScripted: the fuzz target's first seed is a real
// conversation (the fuzzing is not vacuous): two messages stored, their
// UIDs from APPENDUID.
func TestAppendClientScripted(t *testing.T) {
	res, err := playAppend(t, []byte("* OK ready\r\nM1 OK [CAPABILITY IMAP4rev1 MULTIAPPEND UIDPLUS] done\r\nM2 OK [CAPABILITY IMAP4rev1 MULTIAPPEND UIDPLUS] logged in\r\n+ go\r\n+ go\r\nM3 OK [APPENDUID 7 1:2] done\r\n"))
	if err != nil || res.Err != nil || res.Sent != 2 || res.UIDValidity != 7 || len(res.UIDs) != 2 || res.UIDs[0] != 1 || res.UIDs[1] != 2 {
		t.Fatalf("playAppend = %+v, %v; want 2 sent, UIDVALIDITY 7, UIDs [1 2]", res, err)
	}
}

// playAppend runs DialAppend and a MULTIAPPEND of two messages against a
// server that sends script, then closes its side.
func playAppend(t *testing.T, script []byte) (imapconn.AppendResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		go func() {
			c.Write(script)
			c.(*net.TCPConn).CloseWrite() // then EOF: the client never waits for more
		}()
		io.Copy(io.Discard, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := imapconn.DialAppend(ctx, &imapconn.Options{Addr: ln.Addr().String(), Security: "none", Username: "u",
		Timeout: 3 * time.Second, MaxLine: 64 << 10, Secret: func(context.Context) (string, error) { return "pw", nil }})
	if err != nil {
		return imapconn.AppendResult{}, err
	}
	defer a.Close()
	body := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("Subject: x\r\n\r\nx\r\n")), nil }
	return a.Append("INBOX", []imapconn.AppendMessage{
		{Size: 17, Open: body, Options: &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}}},
		{Size: 17, Open: body},
	}), nil
}

// FuzzParseAppendUID: any APPENDUID arguments give either exactly n UIDs
// or none, and a huge range never allocates more than n.
func FuzzParseAppendUID(f *testing.F) {
	for _, s := range []string{"7 1:2", "1 4294967295:1", "1 1:4294967295", "0 5,6,7", "x y", "7 1,,2", "7 3:3"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, args string, n uint8) {
		_, uids := imapconn.ParseAppendUID(args, int(n))
		if uids != nil && len(uids) != int(n) {
			t.Fatalf("ParseAppendUID(%q, %d) = %d UIDs", args, n, len(uids))
		}
		if bytes.ContainsAny([]byte(args), "\x00") && uids != nil && n == 0 {
			t.Fatalf("ParseAppendUID(%q, 0) = %v", args, uids)
		}
	})
}
