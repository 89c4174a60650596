package mutf7

import (
	"testing"
	"unicode/utf8"
)

func TestEncodeDecode(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ascii", "Sent", "Sent"},
		{"ampersand", "Q&A", "Q&-A"},
		{"umlaut", "Entwürfe", "Entw&APw-rfe"},
		{"cjk", "日本語", "&ZeVnLIqe-"},
		{"emoji-surrogates", "a🙂b", "a&2D3eQg-b"},
		{"space-and-slash", "Projects/Q3 report", "Projects/Q3 report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Encode(tc.in); got != tc.want {
				t.Fatalf("Encode(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got, err := Decode(tc.want); err != nil || got != tc.in {
				t.Fatalf("Decode(%q) = %q, %v, want %q", tc.want, got, err, tc.in)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, in := range []string{"&AGE-", "a&", "&ZeV", "caf\xe9", "&2D0-"} {
		if got, err := Decode(in); err == nil {
			t.Errorf("Decode(%q) = %q, nil; want an error", in, got)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"INBOX", "Entwürfe", "a&b", "日本語/x", "🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		enc := Encode(s)
		got, err := Decode(enc)
		if err != nil || got != s {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", s, got, err)
		}
	})
}
