package pop3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

const (
	testUser = "alice"
	testPass = "correct horse battery"
)

// startServer runs a pop3srv with one user and the given messages
// (UIDs "uid-1", "uid-2", ...).
func startServer(t testing.TB, opts *pop3srv.Options, msgs ...[]byte) *pop3srv.Server {
	t.Helper()
	srv, err := pop3srv.Start(opts)
	if err != nil {
		t.Fatalf("pop3srv.Start() = %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser(testUser, testPass)
	for i, m := range msgs {
		srv.AddMessage(testUser, "uid-"+itoa(i+1), m)
	}
	return srv
}

func itoa(i int) string { return strconv.Itoa(i) }

// dial connects without TLS and a short timeout.
func dial(t testing.TB, srv *pop3srv.Server, opts *Options) *Client {
	t.Helper()
	o := Options{Security: "none", Timeout: 5 * time.Second}
	if opts != nil {
		o = *opts
	}
	c, err := Dial(context.Background(), srv.Addr(), &o)
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login dials and authenticates with USER/PASS.
func login(t testing.TB, srv *pop3srv.Server, opts *Options) *Client {
	t.Helper()
	c := dial(t, srv, opts)
	if err := c.Auth(context.Background(), testUser, testPass, "user"); err != nil {
		t.Fatalf("Auth() = %v", err)
	}
	return c
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// syncBuffer is a trace writer safe to read after the client is done.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
