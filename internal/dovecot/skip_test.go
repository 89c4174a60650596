package dovecot

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records Skip and Fatal instead of acting on them. Like the real
// ones, both end the calling goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
	cleanups        []func()
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Name() string      { return "FakeTest" }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Skip(args ...any)  { f.skipped, f.msg = true, fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any) { f.failed, f.msg = true, fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeTB) SkipNow()          { f.skipped = true; runtime.Goexit() }
func (f *fakeTB) FailNow()          { f.failed = true; runtime.Goexit() }
func (f *fakeTB) Skipf(s string, a ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(s, a...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(s string, a ...any) {
	f.failed, f.msg = true, fmt.Sprintf(s, a...)
	runtime.Goexit()
}

// runFake runs fn with a fake TB on its own goroutine (Skip and Fatal end
// it), then runs the registered cleanups.
func runFake(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f
}

func TestUnavailable(t *testing.T) {
	const missing = "dovecot not installed (apt-get install dovecot-imapd dovecot-pop3d); " +
		"set MAILKEEP_REQUIRE_DOVECOT=1 to make this a failure"
	// A port another process holds: Start retries with fresh ports, but
	// this one is in the config, so every attempt fails.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyConfig := fmt.Sprintf("service pop3-login {\n  inet_listener busy {\n    address = 127.0.0.1\n    port = %d\n  }\n}",
		busy.Addr().(*net.TCPAddr).Port)

	tests := []struct {
		name     string
		require  string
		opts     *Options
		notRoot  bool
		wantSkip bool
		want     []string // substrings of the message
		exact    string
	}{
		{name: "missing binary skips", opts: &Options{Binary: "/nonexistent/dovecot"}, wantSkip: true, exact: missing},
		{name: "missing binary fails when required", require: "1", opts: &Options{Binary: "/nonexistent/dovecot"}, exact: missing},
		{name: "require=0 still skips", require: "0", opts: &Options{Binary: "/nonexistent/dovecot"}, wantSkip: true, exact: missing},
		{name: "not root skips", notRoot: true, wantSkip: true,
			want: []string{"not running as root (uid 1000)", "MAILKEEP_REQUIRE_DOVECOT=1"}},
		{name: "not root fails when required", require: "1", notRoot: true,
			want: []string{"not running as root"}},
		{name: "bad config skips with the log", opts: &Options{ExtraConfig: "no_such_setting = 1"}, wantSkip: true,
			want: []string{"cannot start", "dovecot log", "no_such_setting"}},
		{name: "bad config fails when required", require: "1", opts: &Options{ExtraConfig: "no_such_setting = 1"},
			want: []string{"cannot start", "no_such_setting"}},
		{name: "port in use skips", opts: &Options{ExtraConfig: busyConfig}, wantSkip: true,
			want: []string{"cannot start", "Address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tt.require)
			usesReal := tt.opts == nil || tt.opts.Binary == ""
			if _, err := findDovecot(""); usesReal && err != nil {
				t.Skip("needs an installed dovecot")
			}
			if tt.notRoot {
				defer func(orig func() int) { geteuid = orig }(geteuid)
				geteuid = func() int { return 1000 }
			} else if usesReal && geteuid() != 0 {
				t.Skip("needs root")
			}
			var srv *Server
			f := runFake(t, func(tb testing.TB) { srv = Start(tb, tt.opts) })
			if srv != nil {
				t.Fatalf("Start() returned a server")
			}
			if f.skipped != tt.wantSkip || f.failed == tt.wantSkip {
				t.Fatalf("Start(): skipped=%v failed=%v (%q), want skipped=%v", f.skipped, f.failed, f.msg, tt.wantSkip)
			}
			if tt.exact != "" && f.msg != tt.exact {
				t.Errorf("message = %q, want %q", f.msg, tt.exact)
			}
			for _, w := range tt.want {
				if !strings.Contains(f.msg, w) {
					t.Errorf("message = %q, want it to contain %q", f.msg, w)
				}
			}
		})
	}
}
