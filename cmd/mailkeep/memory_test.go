package main

import "testing"

// TestHeapLimitFor: restore and migrate, wherever the global flags put
// them, get the larger limit; every other command the smaller one.
func TestHeapLimitFor(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{[]string{"backup"}, heapLimit},
		{[]string{"--config", "m.yaml", "backup", "work"}, heapLimit},
		{[]string{"run", "--daemon"}, heapLimit},
		{[]string{"migrate", "a", "b"}, xferHeapLimit},
		{[]string{"--config", "m.yaml", "-q", "migrate", "a", "b"}, xferHeapLimit},
		{[]string{"--config=m.yaml", "restore", "a", "--to", "b"}, xferHeapLimit},
		{[]string{"nosuch"}, heapLimit},
		{nil, heapLimit},
	} {
		if got := heapLimitFor(tc.args); got != tc.want {
			t.Errorf("heapLimitFor(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
