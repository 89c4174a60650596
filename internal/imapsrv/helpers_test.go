package imapsrv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const (
	testUser = "alice"
	testPass = "s3cret"
)

// startServer starts a server with user alice and stops it with the test.
func startServer(t *testing.T, opts *Options) *Server {
	t.Helper()
	srv := New(opts)
	srv.AddUser(testUser, testPass)
	if err := srv.Start(); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return srv
}

// dial connects and logs in as alice.
func dial(t *testing.T, srv *Server, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.Addr(), opts)
	if err != nil {
		t.Fatalf("DialInsecure() = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		t.Fatalf("Login() = %v", err)
	}
	return c
}

func mustSelect(t *testing.T, c *imapclient.Client, name string) *imap.SelectData {
	t.Helper()
	data, err := c.Select(name, nil).Wait()
	if err != nil {
		t.Fatalf("Select(%q) = %v", name, err)
	}
	return data
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fetched is what one FETCH response held, bodies reduced to hashes and
// kept whole when small.
type fetched struct {
	uid    imap.UID
	flags  []imap.Flag
	size   int64
	date   time.Time
	modSeq uint64
	bodies map[string][]byte // by section name, when under 1 MiB
	sums   map[string]string
	lens   map[string]int64
}

// fetch streams a FETCH the way mailkeep does, hashing bodies as they come.
func fetch(t *testing.T, c *imapclient.Client, set imap.NumSet, opts *imap.FetchOptions) []fetched {
	t.Helper()
	cmd := c.Fetch(set, opts)
	var out []fetched
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		f := fetched{bodies: map[string][]byte{}, sums: map[string]string{}, lens: map[string]int64{}}
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				f.uid = item.UID
			case imapclient.FetchItemDataFlags:
				f.flags = item.Flags
			case imapclient.FetchItemDataRFC822Size:
				f.size = item.Size
			case imapclient.FetchItemDataInternalDate:
				f.date = item.Time
			case imapclient.FetchItemDataModSeq:
				f.modSeq = item.ModSeq
			case imapclient.FetchItemDataBodySection:
				name := sectionName(item.Section)
				h := sha256.New()
				var keep limitedBuffer
				n, err := io.Copy(io.MultiWriter(h, &keep), item.Literal)
				if err != nil {
					t.Fatalf("reading %s: %v", name, err)
				}
				f.sums[name] = hex.EncodeToString(h.Sum(nil))
				f.lens[name] = n
				if !keep.over {
					f.bodies[name] = keep.b
				}
			case imapclient.FetchItemDataBinarySection:
				b, err := io.ReadAll(item.Literal)
				if err != nil {
					t.Fatalf("reading BINARY: %v", err)
				}
				f.bodies["BINARY[]"] = b
			}
		}
		out = append(out, f)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("Fetch(%v).Close() = %v", set, err)
	}
	return out
}

type limitedBuffer struct {
	b    []byte
	over bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b)+len(p) > 1<<20 {
		l.over, l.b = true, nil
	}
	if !l.over {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}

func sectionName(s *imap.FetchItemBodySection) string {
	name := "BODY[" + string(s.Specifier)
	if len(s.HeaderFields) > 0 {
		name += ".FIELDS"
	}
	return name + "]"
}

func hasF(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// rawClient speaks IMAP by hand, for checking exact responses.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dialRaw(t *testing.T, srv *Server, login bool) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	rc.readLine() // greeting
	if login {
		rc.mustOK("LOGIN " + testUser + " " + testPass)
	}
	return rc
}

func (rc *rawClient) readLine() string {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("reading response: %v (got %q)", err, line)
	}
	return line
}

// cmd sends a command (the tag is added) and returns every response line
// up to and including the tagged one; literals are read as part of lines.
func (rc *rawClient) cmd(command string) []string {
	rc.t.Helper()
	rc.n++
	tag := fmt.Sprintf("T%d", rc.n)
	if _, err := io.WriteString(rc.conn, tag+" "+command+"\r\n"); err != nil {
		rc.t.Fatalf("writing %q: %v", command, err)
	}
	return rc.until(tag)
}

func (rc *rawClient) until(tag string) []string {
	rc.t.Helper()
	var lines []string
	for {
		line := rc.readLine()
		for {
			size, _, ok := literalHeader([]byte(line))
			if !ok {
				break
			}
			lit := make([]byte, size)
			if _, err := io.ReadFull(rc.r, lit); err != nil {
				rc.t.Fatalf("reading literal: %v", err)
			}
			line += string(lit) + rc.readLine()
		}
		lines = append(lines, line)
		if strings.HasPrefix(line, tag+" ") {
			return lines
		}
	}
}

func (rc *rawClient) mustOK(command string) []string {
	rc.t.Helper()
	lines := rc.cmd(command)
	if last := lines[len(lines)-1]; !strings.Contains(last, " OK ") {
		rc.t.Fatalf("%s = %q, want OK", command, lines)
	}
	return lines
}

var zeroTime time.Time
