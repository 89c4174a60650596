package termsafe

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "INBOX/Archive 2019", "INBOX/Archive 2019"},
		{"non-ASCII letters stay", "Entwürfe/日本語", "Entwürfe/日本語"},
		{"backslash stays", `a\b`, `a\b`},
		{"ESC sequence", "\x1b[2J\x1b]0;pwned\x07", `\x1b[2J\x1b]0;pwned\x07`},
		{"newline forges a line", "x\nmailkeep: done", `x\nmailkeep: done`},
		{"CR, tab, NUL, DEL", "a\rb\tc\x00d\x7f", `a\rb\tc\x00d\x7f`},
		{"C1 CSI", "a\u009b31mb", `a\u009b31mb`},
		{"bidi override", "gnp.\u202eexe", `gnp.\u202eexe`},
		{"isolates", "\u2067x\u2069", `\u2067x\u2069`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid UTF-8", "caf\xe9", `caf\xe9`},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := Safe(tt.in); got != (tt.in == tt.want) {
				t.Errorf("Safe(%q) = %v, want %v", tt.in, got, tt.in == tt.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	if got := Error(nil); got != "" {
		t.Errorf("Error(nil) = %q, want empty", got)
	}
	if got, want := Error(errors.New("NO [\x1b[31m] bad")), `NO [\x1b[31m] bad`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// FuzzString: the output never holds a byte a terminal acts on, is
// valid UTF-8, and leaves safe input alone.
func FuzzString(f *testing.F) {
	for _, s := range []string{"INBOX", "\x1b[0m", "a\u202eb", "\xff\xfe", "\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q: not UTF-8", s, out)
		}
		if !Safe(out) {
			t.Fatalf("String(%q) = %q: still unsafe", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("String(%q) = %q: control %U left", s, out, r)
			}
		}
		if Safe(s) && out != s {
			t.Fatalf("String(%q) = %q: changed safe input", s, out)
		}
		if len(out) < len(s) {
			t.Fatalf("String(%q) = %q: lost bytes", s, out)
		}
	})
}
