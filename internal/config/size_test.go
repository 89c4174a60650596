package config

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1048576, true},
		{"500k", 500_000, true},
		{"500K", 500_000, true},
		{"10MB", 10_000_000, true},
		{"10mb", 10_000_000, true},
		{"10 MB", 10_000_000, true},
		{"2.5GB", 2_500_000_000, true},
		{"2.5G", 2_500_000_000, true},
		{"1T", 1_000_000_000_000, true},
		{"1KiB", 1024, true},
		{"1.5KiB", 1536, true},
		{"1GiB", 1 << 30, true},
		{"0.3MiB", 314572, true}, // 314572.8 rounded down
		{"100B", 100, true},
		{"1.0000000001k", 1000, true},
		{"8EiB", 0, false},
		{"9223372036854775807", 9223372036854775807, true},
		{"9223372036854775808", 0, false},
		{"", 0, false},
		{"GB", 0, false},
		{"-1MB", 0, false},
		{"1.2.3MB", 0, false},
		{".5GB", 0, false},
		{"10 parsecs", 0, false},
		{"1e9", 0, false},
		{"10MBps", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}
