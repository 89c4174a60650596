package mailfmt

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

func TestConvertLineEndings(t *testing.T) {
	tests := []struct {
		name, in string
		to       LineEndings
		want     string
		conv     bool
	}{
		{"crlf to lf", "Subject: x\r\n\r\nbody\r\n", LinesLF, "Subject: x\n\nbody\n", true},
		{"no final newline", "Subject: x\r\n\r\nbody", LinesLF, "Subject: x\n\nbody", true},
		{"lone CR kept", "a\rb\r\n", LinesLF, "a\rb\n", true},
		{"CR before CRLF: as it is", "a\r\r\nb\r\n", LinesLF, "a\r\r\nb\r\n", false},
		{"mixed: as it is", "a\r\nb\nc\r\n", LinesLF, "a\r\nb\nc\r\n", false},
		{"lf already", "a\nb\n", LinesLF, "a\nb\n", false},
		{"lf to crlf", "a\nb\n", LinesCRLF, "a\r\nb\r\n", true},
		{"crlf already", "a\r\nb\r\n", LinesCRLF, "a\r\nb\r\n", false},
		{"exact", "a\r\nb\r\n", LinesExact, "a\r\nb\r\n", false},
		{"one line", "no newline at all", LinesLF, "no newline at all", false},
		{"empty", "", LinesLF, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, conv := ConvertLineEndings([]byte(tt.in), tt.to)
			if string(got) != tt.want || conv != tt.conv {
				t.Errorf("ConvertLineEndings(%q, %s) = %q, %v; want %q, %v", tt.in, tt.to, got, conv, tt.want, tt.conv)
			}
			checkStreaming(t, []byte(tt.in), tt.to)
			if conv {
				if back := AltLineEndings(got); !bytes.Equal(back, []byte(tt.in)) {
					t.Errorf("AltLineEndings(%q) = %q, want the original %q", got, back, tt.in)
				}
			}
		})
	}
}

// checkStreaming: ScanLineEndings and NewLineConverter agree with
// ConvertLineEndings, whatever the read sizes.
func checkStreaming(t *testing.T, in []byte, to LineEndings) {
	t.Helper()
	want, conv := ConvertLineEndings(in, to)
	c, size, err := ScanLineEndings(iotest.OneByteReader(bytes.NewReader(in)), to)
	if err != nil || c != conv || size != int64(len(want)) {
		t.Fatalf("ScanLineEndings(%q) = %v, %d, %v; want %v, %d", in, c, size, err, conv, len(want))
	}
	if !conv {
		return
	}
	for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in)), iotest.HalfReader(bytes.NewReader(in))} {
		got, err := io.ReadAll(NewLineConverter(r, to))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("NewLineConverter(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzLineEndings: a conversion is always undone by AltLineEndings, and
// the streaming converter matches the in-memory one.
func FuzzLineEndings(f *testing.F) {
	for _, s := range []string{"a\r\nb\r\n", "a\nb", "\r\r\n", "\r", "x\r\n\r\n.\r\n", "From x\n>From y\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, to := range []LineEndings{LinesLF, LinesCRLF} {
			out, conv := ConvertLineEndings(in, to)
			if conv && !bytes.Equal(AltLineEndings(out), in) {
				t.Fatalf("%s: %q -> %q -> %q", to, in, out, AltLineEndings(out))
			}
			if !conv && !bytes.Equal(out, in) {
				t.Fatalf("%s: %q changed to %q without a conversion", to, in, out)
			}
			checkStreaming(t, in, to)
		}
	})
}
