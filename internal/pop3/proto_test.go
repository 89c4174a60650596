package pop3

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name, line string
		ok         bool
		text       string
		wantErr    bool
	}{
		{"ok", "+OK 2 320", true, "2 320", false},
		{"bare ok", "+OK", true, "", false},
		{"err with code", "-ERR [IN-USE] locked", false, "[IN-USE] locked", false},
		{"lower case", "+ok fine", true, "fine", false},
		{"garbage", "* 1 FETCH", false, "", true},
		{"okay is not ok", "+OKAY", false, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, text, err := parseStatus([]byte(tc.line))
			if ok != tc.ok || text != tc.text || (err != nil) != tc.wantErr {
				t.Errorf("parseStatus(%q) = %v, %q, %v, want %v, %q, error %v", tc.line, ok, text, err, tc.ok, tc.text, tc.wantErr)
			}
		})
	}
}

// FuzzReplies plays arbitrary bytes as the server's side of a session:
// the client must return (an error or a result), never panic or hang.
func FuzzReplies(f *testing.F) {
	f.Add("+OK 2 30\r\n+OK\r\n1 10\r\n2 20\r\n.\r\n+OK\r\n1 a\r\n.\r\n+OK\r\nbody\r\n.\r\n")
	f.Add("-ERR [SYS/TEMP] no\r\n+OK\r\n1 x\r\n.\r\n-ERR\r\n")
	f.Add("+OK -1 -1\r\n+OK\r\n0 0\r\n..\r\n.\r\n")
	f.Fuzz(func(t *testing.T, script string) {
		srv, cli := net.Pipe()
		defer cli.Close()
		go func() {
			io.WriteString(srv, "+OK hello <1.2@x>\r\n+OK\r\nUIDL\r\n.\r\n"+script)
			srv.Close()
		}()
		go io.Copy(io.Discard, srv) // the client's commands
		c := &Client{raw: cli, timeout: time.Second}
		c.setConn(&deadlineConn{Conn: cli, timeout: time.Second})
		if err := c.start(context.Background(), "none", nil); err != nil {
			return
		}
		ctx := context.Background()
		c.Stat(ctx)
		c.List(ctx)
		c.UIDL(ctx)
		n, err := c.Retr(ctx, 1, io.Discard)
		if err == nil && n < 0 {
			t.Fatalf("Retr() = %d", n)
		}
		c.Noop(ctx)
		c.Quit(ctx)
	})
}
