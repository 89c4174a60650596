package imapconn

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// BenchmarkGuardScan: what following the stream costs, on FETCH
// responses of 20 KB messages (the shape of a backup).
func BenchmarkGuardScan(b *testing.B) {
	var stream bytes.Buffer
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 320)
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&stream, "* %d FETCH (UID %d FLAGS (\\Seen) INTERNALDATE \"01-Jan-2020 00:00:00 +0000\" RFC822.SIZE %d BODY[] {%d}\r\n", i, i, len(body), len(body))
		stream.Write(body)
		stream.WriteString(")\r\n")
	}
	data := stream.Bytes()
	g := newGuard(nil, &Options{Timeout: time.Minute, MaxMessageSize: 1 << 20})
	g.deadline = time.Now().Add(time.Hour)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := 0; off < len(data); off += 32 << 10 {
			if _, err := g.scan(data[off:min(off+32<<10, len(data))]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestLiteralAt: which literals are message bodies.
func TestLiteralAt(t *testing.T) {
	for _, tc := range []struct {
		line     string
		n        int64
		body, ok bool
	}{
		{"* 1 FETCH (UID 5 BODY[] {123}\r\n", 123, true, true},
		{"* 1 FETCH (UID 5 BODY[HEADER] {12+}\r\n", 12, true, true},
		{"* 1 FETCH (UID 5 BINARY[1] ~{9}\r\n", 9, true, true},
		{"* 1 FETCH (RFC822 {7}\r\n", 7, true, true},
		{"* LIST () \"/\" {5}\r\n", 5, false, true},
		{"* OK no literal here\r\n", 0, false, false},
		{"* OK {x}\r\n", 0, false, false},
	} {
		n, body, ok := literalAt([]byte(tc.line))
		if n != tc.n || body != tc.body || ok != tc.ok {
			t.Errorf("literalAt(%q) = %d, %v, %v; want %d, %v, %v", tc.line, n, body, ok, tc.n, tc.body, tc.ok)
		}
	}
}
