package ratelimit

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// Bucket is a token bucket of bytes: it refills at Rate bytes per second
// up to Burst. Waiters may run it into debt, so several connections
// sharing one bucket together stay at the rate. Safe for concurrent use.
type Bucket struct {
	rate  float64
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// NewBucket returns a bucket for bytesPerSecond, or nil (no limit) when
// it is 0 or less. The burst is one second's worth, between 4 KiB and
// 256 KiB: small enough to keep the rate over short spans, large enough
// for whole network reads.
func NewBucket(bytesPerSecond int64) *Bucket {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := min(max(bytesPerSecond, 4<<10), 256<<10)
	return newBucket(bytesPerSecond, burst, time.Now, sleepCtx)
}

func newBucket(rate, burst int64, now func() time.Time, sleep func(context.Context, time.Duration) error) *Bucket {
	return &Bucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now(), now: now, sleep: sleep}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Burst is the most bytes one Wait should ask for.
func (b *Bucket) Burst() int {
	if b == nil {
		return 1 << 30
	}
	return int(b.burst)
}

// Wait takes n bytes' worth of tokens, sleeping until they are there (or
// ctx ends). n may exceed the burst: the wait is then longer.
func (b *Bucket) Wait(ctx context.Context, n int) error {
	if b == nil || n <= 0 {
		return nil
	}
	b.mu.Lock()
	now := b.now()
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
	}
	b.last = now
	b.tokens -= float64(n)
	debt := -b.tokens
	b.mu.Unlock()
	if debt <= 0 {
		return nil
	}
	return b.sleep(ctx, time.Duration(debt/b.rate*float64(time.Second)))
}

// Reader limits reads from r to the bucket's rate. Bytes are read first
// and paid for after, so a slow network costs no extra wait.
func Reader(ctx context.Context, r io.Reader, b *Bucket) io.Reader {
	if b == nil {
		return r
	}
	return &reader{ctx: ctx, r: r, b: b}
}

type reader struct {
	ctx context.Context
	r   io.Reader
	b   *Bucket
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) > r.b.Burst() {
		p = p[:r.b.Burst()]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := r.b.Wait(r.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// Conn limits a connection: reads by read, writes by write (either may be
// nil). Closing the connection ends any wait in progress.
func Conn(c net.Conn, read, write *Bucket) net.Conn {
	if read == nil && write == nil {
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{Conn: c, read: read, write: write, ctx: ctx, cancel: cancel}
}

type conn struct {
	net.Conn
	read, write *Bucket
	ctx         context.Context
	cancel      context.CancelFunc
}

func (c *conn) Read(p []byte) (int, error) {
	if c.read == nil {
		return c.Conn.Read(p)
	}
	if len(p) > c.read.Burst() {
		p = p[:c.read.Burst()]
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if werr := c.read.Wait(c.ctx, n); werr != nil && err == nil {
			err = net.ErrClosed
		}
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	if c.write == nil {
		return c.Conn.Write(p)
	}
	done := 0
	for done < len(p) {
		chunk := p[done:min(len(p), done+c.write.Burst())]
		if err := c.write.Wait(c.ctx, len(chunk)); err != nil {
			return done, net.ErrClosed
		}
		n, err := c.Conn.Write(chunk)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (c *conn) Close() error {
	c.cancel()
	return c.Conn.Close()
}
