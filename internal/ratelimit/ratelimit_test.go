package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// fakeTime is a clock whose sleeps advance it: waits are measured, never
// slept through.
type fakeTime struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func (f *fakeTime) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeTime) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
	f.slept += d
	return nil
}

func TestBucketKeepsRate(t *testing.T) {
	ft := &fakeTime{t: time.Unix(1e9, 0)}
	b := newBucket(1000, 1000, ft.now, ft.sleep)
	ctx := context.Background()
	// The first burst is free; every byte after it costs 1 ms.
	if err := b.Wait(ctx, 1000); err != nil || ft.slept != 0 {
		t.Fatalf("first burst: err %v, slept %v, want free", err, ft.slept)
	}
	for range 10 {
		b.Wait(ctx, 500)
	}
	if want := 5 * time.Second; ft.slept != want {
		t.Errorf("5000 bytes past the burst at 1000 B/s slept %v, want %v", ft.slept, want)
	}
	// Idle time refills, but only up to the burst.
	ft.t = ft.t.Add(time.Hour)
	before := ft.slept
	b.Wait(ctx, 3000)
	if got := ft.slept - before; got != 2*time.Second {
		t.Errorf("after an idle hour, 3000 bytes slept %v, want 2s (burst 1000)", got)
	}
}

func TestBucketCancelled(t *testing.T) {
	ft := &fakeTime{t: time.Unix(1e9, 0)}
	b := newBucket(10, 10, ft.now, ft.sleep)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx, 100); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNilMeansNoLimit(t *testing.T) {
	if NewBucket(0) != nil || NewBudget(0, 5) != nil || NewSlots(0) != nil {
		t.Fatal("zero limits must give nil (no limit)")
	}
	var b *Bucket
	var bud *Budget
	var s *Slots
	if b.Wait(context.Background(), 1<<30) != nil || bud.Take(1<<40) != nil || bud.Spent() || bud.Err() != nil {
		t.Fatal("nil limiters must never limit")
	}
	r := Reader(context.Background(), bytes.NewReader([]byte("abc")), nil)
	if got, _ := io.ReadAll(r); string(got) != "abc" {
		t.Fatalf("nil-bucket Reader read %q", got)
	}
	rel, err := s.Acquire(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	rel()
}

func TestReaderPaysForBytes(t *testing.T) {
	ft := &fakeTime{t: time.Unix(1e9, 0)}
	b := newBucket(4096, 4096, ft.now, ft.sleep)
	data := bytes.Repeat([]byte("x"), 4096*6)
	got, err := io.ReadAll(Reader(context.Background(), bytes.NewReader(data), b))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
	}
	if ft.slept != 5*time.Second {
		t.Errorf("24 KiB at 4 KiB/s with a 4 KiB burst slept %v, want 5s", ft.slept)
	}
}

func TestConnLimitsBothWaysAndCloseEndsWaits(t *testing.T) {
	ft := &fakeTime{t: time.Unix(1e9, 0)}
	rb := newBucket(1000, 1000, ft.now, ft.sleep)
	wb := newBucket(1000, 1000, ft.now, ft.sleep)
	a, z := net.Pipe()
	c := Conn(a, rb, wb)
	go func() {
		buf := make([]byte, 3000)
		io.ReadFull(z, buf)
		z.Write(buf)
	}()
	payload := bytes.Repeat([]byte("y"), 3000)
	if n, err := c.Write(payload); n != 3000 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	back := make([]byte, 3000)
	if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, payload) {
		t.Fatalf("read back: %v", err)
	}
	// 2000 bytes past each burst at 1000 B/s: 2s writing, 2s reading.
	if ft.slept != 4*time.Second {
		t.Errorf("slept %v, want 4s", ft.slept)
	}

	// With a real clock: a reader waiting for tokens returns once closed.
	slow := NewBucket(1) // burst 4 KiB, then 1 byte per second
	a2, z2 := net.Pipe()
	c2 := Conn(a2, slow, nil)
	go z2.Write(bytes.Repeat([]byte("z"), 8<<10))
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 4<<10)
		if _, err := io.ReadFull(c2, buf); err != nil { // the free burst
			errc <- err
			return
		}
		_, err := c2.Read(buf) // owes 4096 s of tokens
		errc <- err
	}()
	time.AfterFunc(50*time.Millisecond, func() { c2.Close() })
	select {
	case err := <-errc:
		if err == nil {
			t.Error("read through a closed, throttled conn succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the wait")
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(1000, 600)
	if err := b.Take(300); err != nil {
		t.Fatalf("Take within budget = %v", err)
	}
	// Starts within the budget (900 < 1000): allowed to end past it.
	if err := b.Take(5000); err != nil {
		t.Fatalf("Take that starts within budget = %v", err)
	}
	err := b.Take(1)
	var be *BudgetError
	if !errors.Is(err, ErrBudget) || !errors.As(err, &be) || be.Used != 5900 || be.Limit != 1000 {
		t.Fatalf("Take past budget = %v, want a *BudgetError with used 5900", err)
	}
	if !b.Spent() || b.Used() != 5900 || b.Err() == nil {
		t.Errorf("Spent/Used/Err = %v/%d/%v", b.Spent(), b.Used(), b.Err())
	}
	if want := "daily download budget spent: 5.8 KiB of 1000 B in the last 24 hours; the next run resumes"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if NewBudget(100, 100).Take(1) == nil {
		t.Error("a budget used up before the run must refuse the first take")
	}
}

func TestSlots(t *testing.T) {
	s := NewSlots(2)
	ctx := context.Background()
	r1, _ := s.Acquire(ctx, "imap.example.com")
	r2, _ := s.Acquire(ctx, "imap.example.com")
	other, err := s.Acquire(ctx, "other.example.com")
	if err != nil || s.InUse("imap.example.com") != 2 || s.InUse("other.example.com") != 1 {
		t.Fatalf("InUse = %d, %d, err %v", s.InUse("imap.example.com"), s.InUse("other.example.com"), err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Acquire(short, "imap.example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Acquire = %v, want to wait until the context ends", err)
	}
	got := make(chan struct{})
	go func() {
		r, err := s.Acquire(ctx, "imap.example.com")
		if err == nil {
			r()
		}
		close(got)
	}()
	r1()
	r1() // twice is harmless
	<-got
	r2()
	if s.InUse("imap.example.com") != 0 {
		t.Errorf("InUse after all releases = %d", s.InUse("imap.example.com"))
	}
}
