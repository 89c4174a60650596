package imapsrv

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestCloseEndsSessions checks that Close drops connected clients, idle
// or not, and leaves no goroutine behind.
func TestCloseEndsSessions(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := New(&Options{StartTLS: true})
	srv.AddUser(testUser, testPass)
	if err := srv.Start(); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	var clients []*imapclient.Client
	for i := range 3 {
		c, err := imapclient.DialInsecure(srv.Addr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		if i == 0 {
			continue // never logs in
		}
		if err := c.Login(testUser, testPass).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if _, err := c.Idle(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	for i, c := range clients {
		select {
		case <-c.Closed():
		case <-time.After(5 * time.Second):
			t.Errorf("client %d still connected after Close()", i)
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines after Close() = %d, want %d\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	if err := srv.Start(); err == nil {
		t.Errorf("Start() after Close() = nil, want an error")
	}
}

func TestConcurrentAppends(t *testing.T) {
	srv := startServer(t, nil)
	const clients, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := dial(t, srv, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				raw := []byte(fmt.Sprintf("Subject: %d/%d\r\n\r\n", i, j))
				if _, err := appendMsg(c, "INBOX", raw, &imap.AppendOptions{Flags: []imap.Flag{"$C"}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	watcher := dial(t, srv, nil)
	mustSelect(t, watcher, "INBOX")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Append() = %v", err)
	}
	if err := watcher.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := watcher.Mailbox().NumMessages; n != clients*each {
		t.Errorf("NumMessages seen by another session = %d, want %d", n, clients*each)
	}
	seen := map[uint32]bool{}
	for _, m := range srv.Messages(testUser, "INBOX") {
		if seen[m.UID] {
			t.Errorf("UID %d given twice", m.UID)
		}
		seen[m.UID] = true
	}
}
