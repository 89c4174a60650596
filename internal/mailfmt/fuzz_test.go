package mailfmt

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/sample"
)

// FuzzMboxReader reads arbitrary bytes as an mbox (it must never panic,
// hang or invent bytes), and checks that any two messages written as
// mboxrd read back exactly.
func FuzzMboxReader(f *testing.F) {
	for _, m := range sample.Awkward() {
		f.Add(m.Raw)
	}
	for _, s := range []string{
		"", "\n", "From \n", "From a Mon Mar  4 05:06:07 2019\n", "From a Mon Mar  4 05:06:07 2019\nx",
		"From a Mon Mar  4 05:06:07 2019\n>From x\n>>From y\n\nFrom b Mon Mar  4 05:06:07 2019\n\n",
		"From a Mon Mar  4 05:06:07 2019\r\nS: x\r\n\r\nFrom y 1:00 2000\r\n",
		">From \n>>From \n>>>From\n", "\r\n\r\n\r\n", strings.Repeat(">", 70000) + "From \n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// 1. Any input.
		r := NewMboxReader(bytes.NewReader(data), "fuzz.mbox", MboxOptions{})
		total, last := 0, 0
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("more messages (%d) than bytes (%d)", i, len(data))
			}
			m, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				continue
			}
			if m.Line <= last {
				t.Fatalf("message %d at line %d, after line %d", i, m.Line, last)
			}
			last = m.Line
			b, _ := io.ReadAll(m.Body)
			total += len(b)
		}
		if total > len(data) {
			t.Fatalf("read %d body bytes from %d bytes of input", total, len(data))
		}

		// 2. Round trip: the input cut in two, as two messages.
		half := len(data) / 2
		msgs := [][]byte{data[:half], data[half:]}
		var buf bytes.Buffer
		date := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		for _, m := range msgs {
			if _, err := WriteMboxMessage(&buf, &Message{Body: bytes.NewReader(m), Size: int64(len(m)), Date: date}); err != nil {
				t.Fatal(err)
			}
		}
		r = NewMboxReader(bytes.NewReader(buf.Bytes()), "roundtrip.mbox", MboxOptions{})
		for i, want := range msgs {
			m, err := r.Next()
			if err != nil {
				t.Fatalf("message %d: Next() = %v\nfile: %q", i, err, buf.Bytes())
			}
			got, err := io.ReadAll(m.Body)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("message %d = %q, %v; want %q\nfile: %q", i, got, err, want, buf.Bytes())
			}
			if !m.Date.Equal(date) {
				t.Fatalf("message %d date = %v", i, m.Date)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("after two messages: Next() = %v, want EOF\nfile: %q", err, buf.Bytes())
		}
	})
}
