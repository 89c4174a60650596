package config

import (
	"strings"
	"testing"
)

func TestCompressionKey(t *testing.T) {
	base := "archive: /tmp/a\naccounts:\n  w: {imap: {host: h}, username: u, password_env: X}\n"
	for _, tc := range []struct{ value, want, err string }{
		{"", "", ""},
		{"compression: fast\n", "fast", ""},
		{"compression: better\n", "better", ""},
		{"compression: max\n", "", `compression: must be fast, default or better, got "max"`},
	} {
		c, _, err := Parse([]byte(base+tc.value), "c.yaml")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) error = %v, want %q", tc.value, err, tc.err)
			}
			continue
		}
		if err != nil || c.Compression != tc.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.value, c.Compression, err, tc.want)
		}
	}
}
