package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

// awkward returns messages that broke other clients, by name.
func awkward() []struct {
	name string
	data []byte
} {
	long := func(n int, c byte) string { return strings.Repeat(string(c), n) }
	return []struct {
		name string
		data []byte
	}{
		{"simple CRLF", []byte("Subject: hi\r\n\r\nhello\r\n")},
		{"empty", nil},
		{"bare LF", []byte("Subject: lf\n\nline one\nline two\n")},
		{"mixed endings", []byte("A: 1\r\nB: 2\n\r\nbody\rstill\r\nend\n")},
		{"NUL and 8-bit", []byte("Subject: \xff\xfe\r\n\r\nnul\x00here\x80\xc3\xa9\r\n")},
		{"dot lines", []byte("S: d\r\n\r\n.\r\n..\r\n.x\r\n...\r\n. \r\nend\r\n")},
		{"starts with dot", []byte(".hidden\r\n")},
		{"dot line bare LF", []byte("a\n.\nb\n..\n")},
		{"terminator lookalike", []byte("a\r\n.\r\n\r\n.\r\nb\r\n")},
		{"dot CR only", []byte(".\r.\r\n.\rx\r\n")},
		{"no final newline", []byte("Subject: x\r\n\r\nno newline at end")},
		{"ends with CR", []byte("ends with CR\r")},
		{"only a dot", []byte(".")},
		{"line 4095", []byte(long(4095, 'a') + "\r\n")},
		{"line 4096", []byte(long(4096, 'b') + "\r\n")},
		{"line 4097", []byte(long(4097, 'c') + "\r\n")},
		{"4096-byte line then dot line", []byte(long(4096, 'd') + "\r\n.\r\nafter\r\n")},
		{"4094+CRLF then dot line", []byte(long(4094, 'e') + "\r\n.\r\nafter\r\n")},
		{"dot line of 4096", []byte("." + long(4095, '.') + "\r\n.\r\n")},
		{"line over client buffer", []byte(long(bufSize+5, 'f') + "\r\n.\r\n" + long(3*bufSize, 'g') + "\n")},
		{"dot at buffer boundary", []byte(long(bufSize-2, 'h') + "\r\n.\r\n.." + long(bufSize, 'i') + "\r\n")},
	}
}

func TestRetrByteExact(t *testing.T) {
	cases := awkward()
	var msgs [][]byte
	for _, tc := range cases {
		msgs = append(msgs, tc.data)
	}
	srv := startServer(t, nil, msgs...)
	c := login(t, srv, nil)
	ctx := context.Background()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := pop3srv.ClientBytes(tc.data)
			var buf bytes.Buffer
			n, err := c.Retr(ctx, i+1, &buf)
			if err != nil {
				t.Fatalf("Retr(%d) error = %v", i+1, err)
			}
			if got := buf.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("Retr(%d) = %d bytes sha %s, want %d bytes sha %s", i+1, len(got), sum(got), len(want), sum(want))
			}
			if n != int64(len(want)) {
				t.Errorf("Retr(%d) count = %d, want %d", i+1, n, len(want))
			}
		})
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatalf("Noop() after all RETRs = %v, want nil (stream in step)", err)
	}
}

func TestRetrManyByteExact(t *testing.T) {
	cases := awkward()
	var msgs [][]byte
	var nums []int
	for i, tc := range cases {
		msgs = append(msgs, tc.data)
		nums = append(nums, i+1)
	}
	for _, pipelining := range []bool{true, false} {
		name := map[bool]string{true: "pipelined", false: "one at a time"}[pipelining]
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, &pop3srv.Options{DisablePipelining: !pipelining}, msgs...)
			trace := &syncBuffer{}
			c := login(t, srv, &Options{Security: "none", Trace: trace})
			var got []int
			err := c.RetrMany(context.Background(), nums, func(num int, r io.Reader, err error) error {
				if err != nil {
					return err
				}
				b, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				if want := pop3srv.ClientBytes(msgs[num-1]); !bytes.Equal(b, want) {
					t.Errorf("RetrMany message %d (%s) = sha %s, want sha %s", num, cases[num-1].name, sum(b), sum(want))
				}
				got = append(got, num)
				return nil
			})
			if err != nil {
				t.Fatalf("RetrMany() = %v", err)
			}
			if len(got) != len(nums) {
				t.Fatalf("RetrMany() delivered %d messages, want %d", len(got), len(nums))
			}
			// Pipelined: several RETR lines go out before the first reply.
			tr := trace.String()
			tr = tr[strings.Index(tr, "C: RETR 1"):]
			before := strings.Count(tr[:strings.Index(tr, "S: +OK")], "C: RETR")
			if pipelining && before < 2 || !pipelining && before != 1 {
				t.Errorf("RETR commands sent before the first reply = %d (pipelining %v)", before, pipelining)
			}
			if err := c.Noop(context.Background()); err != nil {
				t.Fatalf("Noop() after RetrMany = %v", err)
			}
		})
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		n := w.after
		w.after = 0
		return n, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestRetrWriterFails(t *testing.T) {
	msg := bytes.Repeat([]byte("line of text\r\n.dot\r\n"), 20000)
	srv := startServer(t, nil, msg, []byte("second\r\n"))
	c := login(t, srv, nil)
	_, err := c.Retr(context.Background(), 1, &failWriter{after: 1000})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Retr() into a failing writer = %v, want the write error", err)
	}
	// The rest of the message was drained: the next reply is in step.
	var buf bytes.Buffer
	if _, err := c.Retr(context.Background(), 2, &buf); err != nil || buf.String() != "second\r\n" {
		t.Errorf("Retr(2) after a failed write = %q, %v, want \"second\\r\\n\"", buf.String(), err)
	}
}

func TestTop(t *testing.T) {
	msg := []byte("A: 1\r\nB: 2\r\n\r\n.l1\r\nl2\r\nl3\r\n")
	srv := startServer(t, nil, msg, []byte("no header end\n"))
	c := login(t, srv, nil)
	tests := []struct {
		name  string
		num   int
		lines int
		want  string
	}{
		{"headers only", 1, 0, "A: 1\r\nB: 2\r\n\r\n"},
		{"two lines", 1, 2, "A: 1\r\nB: 2\r\n\r\n.l1\r\nl2\r\n"},
		{"more than there are", 1, 10, string(msg)},
		{"no blank line", 2, 1, "no header end\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := c.Top(context.Background(), tc.num, tc.lines, &buf); err != nil {
				t.Fatalf("Top() error = %v", err)
			}
			if buf.String() != tc.want {
				t.Errorf("Top(%d, %d) = %q, want %q", tc.num, tc.lines, buf.String(), tc.want)
			}
		})
	}
}

func TestRetr50MBFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB message; skipped with -short")
	}
	// Awkward content throughout: dot lines, long lines, bare LF, NUL.
	var b bytes.Buffer
	chunk := "." + strings.Repeat("x", 5000) + "\r\n.\r\nbare\n\x00\xff..\r\n"
	for b.Len() < 50<<20 {
		b.WriteString(chunk)
	}
	data := b.Bytes()
	want := sha256.Sum256(data)
	srv := startServer(t, nil, data)
	c := login(t, srv, nil)

	h := sha256.New()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := c.Retr(context.Background(), 1, h)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Retr() = %v", err)
	}
	if n != int64(len(data)) {
		t.Errorf("Retr() count = %d, want %d", n, len(data))
	}
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Errorf("Retr() sha256 = %s, want %s", hex.EncodeToString(got), hex.EncodeToString(want[:]))
	}
	// Client and server run in this process; both must stream.
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Retr() of %d bytes allocated %d bytes", len(data), alloc)
	if alloc > 4<<20 {
		t.Errorf("Retr() of 50 MB allocated %d bytes, want < 4 MiB", alloc)
	}
}

// stuffed returns what a server sends for data: "+OK", body, terminator,
// and a following reply that must stay unread.
func stuffed(data []byte) []byte {
	var b bytes.Buffer
	pop3srv.WriteDotStuffed(&b, data)
	b.WriteString("+OK next\r\n")
	return b.Bytes()
}

func FuzzRetr(f *testing.F) {
	for _, tc := range awkward() {
		if len(tc.data) < 5000 {
			f.Add(tc.data)
		}
	}
	f.Add([]byte("\n.\n.\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		want := pop3srv.ClientBytes(data)
		for _, size := range []int{16, 4096} {
			br := bufio.NewReaderSize(bytes.NewReader(stuffed(data)), size)
			d := newDotReader(br, nil)
			var got bytes.Buffer
			n, err := d.WriteTo(&got)
			if err != nil {
				t.Fatalf("buffer %d: WriteTo() error = %v", size, err)
			}
			if !bytes.Equal(got.Bytes(), want) || n != int64(len(want)) {
				t.Fatalf("buffer %d: unstuffed %q (n=%d), want %q", size, got.Bytes(), n, want)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != "+OK next\r\n" {
				t.Fatalf("buffer %d: left after the body %q, want the next reply", size, rest)
			}
		}
	})
}

// FuzzDotReader feeds arbitrary server output: never a panic, and a body
// without its terminator is always an error, never a short message.
func FuzzDotReader(f *testing.F) {
	f.Add([]byte("abc\r\n.\r\n"))
	f.Add([]byte("abc\r\n"))
	f.Add([]byte("..\r\n.\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d := newDotReader(bufio.NewReaderSize(bytes.NewReader(raw), 16), nil)
		_, err := io.Copy(io.Discard, d)
		terminated := bytes.HasPrefix(raw, []byte(".\n")) || bytes.HasPrefix(raw, []byte(".\r\n")) ||
			bytes.Contains(raw, []byte("\n.\n")) || bytes.Contains(raw, []byte("\n.\r\n"))
		if err == nil && !terminated {
			t.Fatalf("body %q without terminator read without error", raw)
		}
		if err != nil && !errors.Is(err, errCutShort) {
			t.Fatalf("error %v does not wrap errCutShort", err)
		}
	})
}
