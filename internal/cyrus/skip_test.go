package cyrus

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records Skip and Fatal instead of acting on them; like the real
// ones, both end the calling goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { fn() }
func (f *fakeTB) Skip(args ...any)  { f.skipped, f.msg = true, fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any) { f.failed, f.msg = true, fmt.Sprint(args...); runtime.Goexit() }

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name     string
		require  string
		root     string
		notRoot  bool
		wantSkip bool
		want     []string
	}{
		{name: "missing tree skips", root: "/nonexistent/cyrus", wantSkip: true,
			want: []string{"cyrus not unpacked in /nonexistent/cyrus", "bash .ci/install-cyrus", "MAILKEEP_REQUIRE_CYRUS=1"}},
		{name: "missing tree fails when required", require: "1", root: "/nonexistent/cyrus",
			want: []string{"cyrus not unpacked in /nonexistent/cyrus"}},
		{name: "require=0 still skips", require: "0", root: "/nonexistent/cyrus", wantSkip: true,
			want: []string{"cyrus not unpacked"}},
		{name: "not root skips", notRoot: true, wantSkip: true,
			want: []string{"not running as root (uid 1000)", "MAILKEEP_REQUIRE_CYRUS=1"}},
		{name: "not root fails when required", require: "1", notRoot: true,
			want: []string{"not running as root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tt.require)
			if tt.notRoot {
				// The root check comes after the tree's: it needs a tree.
				if root := withDefaults(nil).Root; !unpacked(root) {
					t.Skipf("needs Cyrus unpacked in %s", root)
				}
				defer func(orig func() int) { geteuid = orig }(geteuid)
				geteuid = func() int { return 1000 }
			}
			f := &fakeTB{TB: t}
			var srv *Server
			done := make(chan struct{})
			go func() {
				defer close(done)
				var opts *Options
				if tt.root != "" {
					opts = &Options{Root: tt.root}
				}
				srv = Start(f, opts)
			}()
			<-done
			if srv != nil {
				t.Fatalf("Start() returned a server")
			}
			if f.skipped != tt.wantSkip || f.failed == tt.wantSkip {
				t.Fatalf("Start(): skipped=%v failed=%v (%q), want skipped=%v", f.skipped, f.failed, f.msg, tt.wantSkip)
			}
			for _, w := range tt.want {
				if !strings.Contains(f.msg, w) {
					t.Errorf("message = %q, want it to contain %q", f.msg, w)
				}
			}
		})
	}
}
