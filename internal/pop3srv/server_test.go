package pop3srv

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestWriteDotStuffed(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", ".\r\n"},
		{"crlf", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"dot lines", ".a\r\n.\r\n..\r\n", "..a\r\n..\r\n...\r\n.\r\n"},
		{"bare lf", "a\n.\n", "a\n..\n.\r\n"},
		{"no final newline", "a\r\n.b", "a\r\n..b\r\n.\r\n"},
		{"dot not at line start", "a.b\r.\r\n", "a.b\r.\r\n.\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteDotStuffed(&b, []byte(tc.data)); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("WriteDotStuffed(%q) = %q, want %q", tc.data, b.String(), tc.want)
			}
		})
	}
}

func TestTopBytes(t *testing.T) {
	tests := []struct {
		name, data string
		n          int
		want       string
	}{
		{"header only", "A: 1\r\n\r\nb1\r\nb2\r\n", 0, "A: 1\r\n\r\n"},
		{"one line", "A: 1\r\n\r\nb1\r\nb2\r\n", 1, "A: 1\r\n\r\nb1\r\n"},
		{"bare lf", "A: 1\n\nb1\nb2\n", 1, "A: 1\n\nb1\n"},
		{"no blank line", "A: 1\r\nB: 2\r\n", 1, "A: 1\r\nB: 2\r\n"},
		{"unterminated last line", "A: 1\r\n\r\nb1", 5, "A: 1\r\n\r\nb1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(topBytes([]byte(tc.data), tc.n)); got != tc.want {
				t.Errorf("topBytes(%q, %d) = %q, want %q", tc.data, tc.n, got, tc.want)
			}
		})
	}
}

// conv is a raw client for checking what the server sends, byte for byte.
type conv struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func open(t *testing.T, s *Server) *conv {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	t.Cleanup(func() { c.Close() })
	v := &conv{t: t, c: c, br: bufio.NewReader(c)}
	v.expect("+OK")
	return v
}

// do sends line and returns the first reply line.
func (v *conv) do(line string) string {
	v.t.Helper()
	if _, err := io.WriteString(v.c, line+"\r\n"); err != nil {
		v.t.Fatal(err)
	}
	return v.line()
}

func (v *conv) line() string {
	v.t.Helper()
	l, err := v.br.ReadString('\n')
	if err != nil {
		v.t.Fatalf("read: %v", err)
	}
	return l
}

func (v *conv) expect(prefix string) string {
	v.t.Helper()
	l := v.line()
	if !strings.HasPrefix(l, prefix) {
		v.t.Fatalf("reply %q, want %s", l, prefix)
	}
	return l
}

func (v *conv) login(user, pass string) string {
	v.t.Helper()
	if r := v.do("USER " + user); !strings.HasPrefix(r, "+OK") {
		v.t.Fatalf("USER: %q", r)
	}
	return v.do("PASS " + pass)
}

func start(t *testing.T, opts *Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.AddUser("u", "p w")
	return s
}

func TestRetrWireBytes(t *testing.T) {
	s := start(t, nil)
	s.AddMessage("u", "a", []byte(".x\n..\r\nend"))
	v := open(t, s)
	if r := v.login("u", "p w"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("PASS with a space in the password = %q", r)
	}
	if r := v.do("RETR 1"); r != "+OK 10 octets\r\n" {
		t.Errorf("RETR 1 status = %q", r)
	}
	want := "..x\n...\r\nend\r\n.\r\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(v.br, got); err != nil || string(got) != want {
		t.Errorf("RETR 1 body = %q, %v, want %q", got, err, want)
	}
}

func TestSessionRules(t *testing.T) {
	s := start(t, nil)
	s.AddMessage("u", "a", []byte("1\r\n"))
	s.AddMessage("u", "b", []byte("2\r\n"))
	tests := []struct {
		name, line, want string
	}{
		{"retr before login", "RETR 1", "-ERR"},
		{"stls not offered", "STLS", "-ERR"},
		{"wrong password", "PASS nope", "-ERR [AUTH]"},
	}
	v := open(t, s)
	v.do("USER u")
	for _, tc := range tests {
		if r := v.do(tc.line); !strings.HasPrefix(r, tc.want) {
			t.Errorf("%s: %q = %q, want %s", tc.name, tc.line, r, tc.want)
		}
	}
	if r := v.do("PASS p w"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("PASS = %q", r)
	}
	// A second session for the same user is refused while this one lives.
	v2 := open(t, s)
	if r := v2.login("u", "p w"); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Errorf("second login = %q, want -ERR [IN-USE]", r)
	}
	steps := []struct{ line, want string }{
		{"DELE 1", "+OK"},
		{"DELE 1", "-ERR"},
		{"RETR 1", "-ERR"},
		{"STAT", "+OK 1 3\r\n"},
		{"RSET", "+OK"},
		{"STAT", "+OK 2 6\r\n"},
		{"DELE 2", "+OK"},
		{"NOOP", "+OK"},
		{"RETR 3", "-ERR"},
		{"UIDL 1", "+OK 1 a\r\n"},
	}
	for _, st := range steps {
		if r := v.do(st.line); !strings.HasPrefix(r, st.want) {
			t.Errorf("%q = %q, want %q", st.line, r, st.want)
		}
	}
	if got := len(s.Maildrop("u")); got != 2 {
		t.Errorf("Maildrop before QUIT has %d messages, want 2", got)
	}
	if r := v.do("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT = %q", r)
	}
	if md := s.Maildrop("u"); len(md) != 1 || md[0].UID != "a" {
		t.Errorf("Maildrop after QUIT = %v, want only a", md)
	}
	v3 := open(t, s)
	if r := v3.login("u", "p w"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("login after QUIT = %q, want +OK (lock released)", r)
	}
}

func TestPipelinedCommandsAnswered(t *testing.T) {
	s := start(t, nil)
	s.AddMessage("u", "a", []byte("one\r\n"))
	v := open(t, s)
	io.WriteString(v.c, "USER u\r\nPASS p w\r\nRETR 1\r\nNOOP\r\nQUIT\r\n")
	var got bytes.Buffer
	io.Copy(&got, v.br)
	want := "+OK send PASS\r\n+OK u has 1 messages\r\n+OK 5 octets\r\none\r\n.\r\n+OK\r\n+OK bye\r\n"
	if got.String() != want {
		t.Errorf("pipelined replies = %q, want %q", got.String(), want)
	}
}

func TestClientBytes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"a\n", "a\n"}, {"a\r\n", "a\r\n"}, {"a", "a\r\n"}, {"a\r", "a\r\r\n"},
	} {
		if got := string(ClientBytes([]byte(tc.in))); got != tc.want {
			t.Errorf("ClientBytes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
