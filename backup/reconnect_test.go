package backup

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/faultproxy"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// flakyDial dials through addr the first time and fails every later time
// with a transient error: the connection drops and the server is then
// unreachable. A failed reconnect used to leave a nil connection that the
// next command ran on: a panic, exit 2, a dead daemon.
func flakyDial(addr string) (func(context.Context) (*imapconn.Conn, error), *atomic.Int32) {
	var n atomic.Int32
	dial := dialer(addr, 2*time.Second)
	return func(ctx context.Context) (*imapconn.Conn, error) {
		if n.Add(1) == 1 {
			return dial(ctx)
		}
		return nil, &imapconn.Error{Op: "connect to " + addr, Err: syscall.ECONNREFUSED}
	}, &n
}

func TestFailedReconnectIsAFolderError(t *testing.T) {
	srv, p := faultSetup(t)
	if err := p.Set(faultproxy.Fault{Action: faultproxy.Drop, After: 150_000, Count: 1}); err != nil {
		t.Fatal(err)
	}
	dial, dials := flakyDial(p.Addr())
	repo := openRepo(t, t.TempDir())
	var mu sync.Mutex
	failed := map[string]error{}
	rep := reporterFunc(func(e progress.Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Kind == progress.Failed && e.Folder != "" {
			failed[e.Folder] = e.Err
		}
	})
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dial, Retries: 2, Backoff: time.Millisecond}, rep)
	if res.OK() {
		t.Fatal("backup succeeded with the server unreachable after the first drop")
	}
	if dials.Load() < 2 {
		t.Fatalf("%d dials: the fault did not hit the backup", dials.Load())
	}
	var bad int
	for _, fr := range res.Folders {
		if fr.Err == nil {
			continue
		}
		bad++
		if !errors.Is(fr.Err, syscall.ECONNREFUSED) && !strings.Contains(fr.Err.Error(), "reconnect") {
			t.Errorf("folder %s: error %v; want the failed reconnect", fr.Name, fr.Err)
		}
		if !strings.Contains(fr.Err.Error(), "acct/"+fr.Name) {
			t.Errorf("folder %s: error %q does not name the folder", fr.Name, fr.Err)
		}
	}
	if bad == 0 {
		t.Fatalf("no folder failed: %+v", res.Folders)
	}
	// The archive holds what came before the drop, intact.
	if v, err := repo.Verify(context.Background(), "", nil); err != nil || !v.OK() {
		t.Fatalf("Verify() = %+v, %v", v, err)
	}
	// With the server back, the next run completes.
	if res := backupOnce(t, repo, srv.Addr()); !res.OK() {
		t.Fatal(res.Err())
	}
	compare(t, repo, srv)
}

func TestCleanupFailedReconnectIsAFolderError(t *testing.T) {
	b := newMemBackend(t, nil)
	_, cutoff, _ := clSetup(t, b, nil)
	p, err := faultproxy.New(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	repo, _ := clRepo(t)
	// Archive first, so the cleanup itself is the one hit.
	if res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: b.dial("")}, nil); !res.OK() {
		t.Fatal(res.Err())
	}
	var n atomic.Int32
	a := b.account(cutoff)
	a.SkipBackup, a.Retries, a.Backoff, a.Connections = true, 2, time.Millisecond, 1
	a.Dial = func(ctx context.Context) (*imapconn.Conn, error) {
		switch n.Add(1) {
		case 1:
			return b.dial("")(ctx)
		case 2:
			// The folder worker's connection: it dies at once.
			p.Set(faultproxy.Fault{Action: faultproxy.Drop, After: 0})
			return b.dial(p.Addr())(ctx)
		}
		return nil, &imapconn.Error{Op: "connect", Err: syscall.ECONNREFUSED}
	}
	res := Cleanup(context.Background(), repo, a, nil)
	if res.OK() || res.Deleted != 0 {
		t.Fatalf("Cleanup() = ok %v, deleted %d; want folder errors and nothing deleted", res.OK(), res.Deleted)
	}
	for _, f := range res.Folders {
		if f.Err == nil {
			t.Errorf("folder %s: no error although the server was unreachable", f.Name)
		}
	}
}

// TestFolderCountsSurviveReconnect (issue 11, 7): after a reconnect a
// folder's line counted only the last connection's messages, because the
// folder was announced again. It is announced once; its items add up to
// the folder's real total.
func TestFolderCountsSurviveReconnect(t *testing.T) {
	srv, p := faultSetup(t)
	if err := p.Set(faultproxy.Fault{Action: faultproxy.Drop, After: 150_000, Count: 1}); err != nil {
		t.Fatal(err)
	}
	repo := openRepo(t, t.TempDir())
	var mu sync.Mutex
	starts, items := map[string]int{}, map[string]int64{}
	retries := 0
	rep := reporterFunc(func(e progress.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case progress.FolderStart:
			starts[e.Folder]++
		case progress.Item:
			items[e.Folder]++
		case progress.Retry:
			retries++
		}
	})
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dialer(p.Addr(), 2*time.Second), Backoff: time.Millisecond}, rep)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	if retries == 0 {
		t.Fatal("the fault did not hit the backup")
	}
	for _, f := range res.Folders {
		if starts[f.Name] > 1 {
			t.Errorf("%s announced %d times", f.Name, starts[f.Name])
		}
		if items[f.Name] != f.New+f.Seen {
			t.Errorf("%s: %d items reported, the folder stored %d", f.Name, items[f.Name], f.New+f.Seen)
		}
	}
	compare(t, repo, srv)
}
