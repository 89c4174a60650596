package cyrus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Message is one message for Append.
type Message struct {
	// Raw is APPENDed as is. Cyrus refuses bare LF, NUL and empty
	// messages, and (unless Keep8BitHeaders) stores raw 8-bit header
	// bytes as 'X': see Munged.
	Raw []byte
	// Flags are IMAP flags and keywords; \Recent is ignored.
	Flags []string
	// Date becomes INTERNALDATE; zero means now.
	Date time.Time
}

// Munged returns the bytes Cyrus serves for an APPENDed or delivered
// message under munge8bit (the default): every byte >= 0x80 in the
// header section becomes 'X'; the body is untouched.
func Munged(raw []byte) []byte {
	out := bytes.Clone(raw)
	end := bytes.Index(out, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(out)
	}
	for i := 0; i < end; i++ {
		if out[i] >= 0x80 {
			out[i] = 'X'
		}
	}
	return out
}

// Append APPENDs msgs to a folder of the user's (named as that user sees
// it: "INBOX", s.Folder("Archive", "2019"), "user.m4.Shared"), logged in
// as the user (the admin too), creating and subscribing the folder when
// missing. It returns the UIDs the server gave, in order.
func (s *Server) Append(tb testing.TB, user, folder string, msgs []Message) []imap.UID {
	tb.Helper()
	uids, err := s.appendAll(user, folder, msgs)
	if err != nil {
		tb.Fatalf("cyrus: append %s %q: %v\n%s", user, folder, err, s.Log())
	}
	return uids
}

func (s *Server) appendAll(user, folder string, msgs []Message) ([]imap.UID, error) {
	pass := s.PasswordOf(user)
	if pass == "" {
		return nil, errors.New("unknown user")
	}
	c, err := s.dial(user, pass)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := ensureFolder(c, folder); err != nil {
		return nil, err
	}
	var uids []imap.UID
	for i, m := range msgs {
		var flags []imap.Flag
		for _, f := range m.Flags {
			if !strings.EqualFold(f, `\Recent`) {
				flags = append(flags, imap.Flag(f))
			}
		}
		date := m.Date
		if date.IsZero() {
			date = time.Now()
		}
		cmd := c.Append(folder, int64(len(m.Raw)), &imap.AppendOptions{Flags: flags, Time: date})
		if _, err := cmd.Write(m.Raw); err != nil {
			return uids, fmt.Errorf("message %d: %w", i, err)
		}
		if err := cmd.Close(); err != nil {
			return uids, fmt.Errorf("message %d: %w", i, err)
		}
		data, err := cmd.Wait()
		if err != nil {
			return uids, fmt.Errorf("message %d: %w", i, err)
		}
		uids = append(uids, data.UID)
	}
	return uids, c.Logout().Wait()
}

// ensureFolder creates (if missing) and subscribes a folder.
func ensureFolder(c *imapclient.Client, folder string) error {
	if strings.EqualFold(folder, "INBOX") {
		return nil
	}
	if err := c.Create(folder, nil).Wait(); err != nil {
		// Cyrus 3.6 says "NO Mailbox already exists", without the code.
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAlreadyExists && !strings.Contains(ie.Text, "already exists") {
			return fmt.Errorf("create: %w", err)
		}
	}
	if err := c.Subscribe(folder).Wait(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// CreateFolder creates (if missing) and subscribes a folder of the user's.
func (s *Server) CreateFolder(tb testing.TB, user, folder string) {
	tb.Helper()
	c := s.Login(tb, user)
	if err := ensureFolder(c, folder); err != nil {
		tb.Fatalf("cyrus: %s %q: %v\n%s", user, folder, err, s.Log())
	}
	c.Logout().Wait()
}

// Deliver hands raw to lmtpd for the user's INBOX, as an MTA would. raw
// must end in CRLF and hold no bare LF. lmtpd puts Return-Path, Received,
// X-Cyrus-Session-Id and X-Sieve lines in front, and adds Message-ID and
// Date when raw has none.
func (s *Server) Deliver(tb testing.TB, user string, raw []byte) {
	tb.Helper()
	if err := s.deliver(user, raw); err != nil {
		tb.Fatalf("cyrus: deliver to %s: %v\n%s", user, err, s.Log())
	}
}

func (s *Server) deliver(user string, raw []byte) error {
	c, err := net.DialTimeout("unix", s.LMTPSocket, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	expect := func(step string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("%s: %w", step, err)
			}
			if len(line) < 4 || line[0] != '2' && line[0] != '3' {
				return fmt.Errorf("%s: %s", step, strings.TrimSpace(line))
			}
			if line[3] == ' ' {
				return nil
			}
		}
	}
	steps := []struct{ send, name string }{
		{"", "greeting"},
		{"LHLO localhost\r\n", "LHLO"},
		{"MAIL FROM:<>\r\n", "MAIL FROM"},
		{"RCPT TO:<" + user + ">\r\n", "RCPT TO"},
		{"DATA\r\n", "DATA"},
	}
	for _, st := range steps {
		if st.send != "" {
			if _, err := c.Write([]byte(st.send)); err != nil {
				return err
			}
		}
		if err := expect(st.name); err != nil {
			return err
		}
	}
	var body bytes.Buffer
	for _, line := range bytes.SplitAfter(raw, []byte("\r\n")) {
		if bytes.HasPrefix(line, []byte(".")) {
			body.WriteByte('.')
		}
		body.Write(line)
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		body.WriteString("\r\n")
	}
	body.WriteString(".\r\n")
	if _, err := c.Write(body.Bytes()); err != nil {
		return err
	}
	if err := expect("end of DATA"); err != nil {
		return err
	}
	c.Write([]byte("QUIT\r\n"))
	return nil
}
