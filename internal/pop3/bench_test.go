package pop3

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

// BenchmarkRetr retrieves 500 messages of 20 KB per iteration, one RETR
// at a time and pipelined, on plain loopback and through a proxy that
// delays client-to-server bytes by 500µs (a LAN-like round trip).
func BenchmarkRetr(b *testing.B) {
	const count, size = 500, 20 << 10
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do.\r\n"
	msg := []byte(strings.Repeat(line, size/len(line)+1)[:size-2] + "\r\n")
	msgs := make([][]byte, count)
	nums := make([]int, count)
	for i := range msgs {
		msgs[i] = msg
		nums[i] = i + 1
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		pipelining bool
		many       bool
		delay      time.Duration
	}{
		{"loopback/Retr", true, false, 0},
		{"loopback/RetrMany/pipelined", true, true, 0},
		{"loopback/RetrMany/no-pipelining", false, true, 0},
		{"rtt500us/Retr", true, false, 500 * time.Microsecond},
		{"rtt500us/RetrMany/pipelined", true, true, 500 * time.Microsecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := startServer(b, &pop3srv.Options{DisablePipelining: !tc.pipelining}, msgs...)
			addr := srv.Addr()
			if tc.delay > 0 {
				addr = delayProxy(b, addr, tc.delay)
			}
			c, err := Dial(ctx, addr, &Options{Security: "none"})
			if err != nil {
				b.Fatalf("Dial() = %v", err)
			}
			defer c.Close()
			if err := c.Auth(ctx, testUser, testPass, "user"); err != nil {
				b.Fatalf("Auth() = %v", err)
			}
			b.SetBytes(count * size)
			b.ReportAllocs()
			for b.Loop() {
				var total int64
				if tc.many {
					err := c.RetrMany(ctx, nums, func(num int, r io.Reader, err error) error {
						if err != nil {
							return err
						}
						n, err := io.Copy(io.Discard, r)
						total += n
						return err
					})
					if err != nil {
						b.Fatalf("RetrMany() = %v", err)
					}
				} else {
					for _, n := range nums {
						m, err := c.Retr(ctx, n, io.Discard)
						if err != nil {
							b.Fatalf("Retr(%d) = %v", n, err)
						}
						total += m
					}
				}
				if total != count*size {
					b.Fatalf("retrieved %d bytes, want %d", total, count*size)
				}
			}
		})
	}
}

// delayProxy forwards connections to addr, holding back every chunk the
// client sends for delay (replies pass at once).
func delayProxy(b *testing.B, addr string, delay time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				return
			}
			b.Cleanup(func() { in.Close(); out.Close() })
			go io.Copy(in, out)
			type chunk struct {
				at time.Time
				p  []byte
			}
			q := make(chan chunk, 1024)
			go func() {
				defer close(q)
				for {
					p := make([]byte, 4096)
					n, err := in.Read(p)
					if n > 0 {
						q <- chunk{time.Now().Add(delay), p[:n]}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer out.Close()
				for c := range q {
					time.Sleep(time.Until(c.at))
					if _, err := out.Write(c.p); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
