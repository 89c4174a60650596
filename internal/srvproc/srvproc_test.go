package srvproc

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestMakeDirAndReapStale(t *testing.T) {
	prefix := "mailkeep-srvproc-test-"
	mine, err := MakeDir(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(mine)
	if abandoned(mine) {
		t.Fatalf("%s: our own directory taken for abandoned", mine)
	}
	// A directory whose owner is a process that has gone.
	dead, err := MakeDir(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dead)
	if err := os.WriteFile(filepath.Join(dead, "owner"), []byte("999999999 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ReapStale(prefix, "etc/x.conf")
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("abandoned %s not reaped: %v", dead, err)
	}
	if _, err := os.Stat(filepath.Join(mine, "owner")); err != nil {
		t.Errorf("live %s reaped: %v", mine, err)
	}
}

func TestWriteCert(t *testing.T) {
	dir := t.TempDir()
	certFile, pool, err := WriteCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v %v, want mode 0600", st.Mode(), err)
	}
	if _, err := tls.LoadX509KeyPair(certFile, filepath.Join(dir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(certFile)
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
}

func TestStartChildStop(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	exited := make(chan struct{})
	var waitErr error
	if err := StartChild(cmd, func(err error) { waitErr = err; close(exited) }); err != nil {
		t.Skip(err)
	}
	if pgid, err := syscall.Getpgid(cmd.Process.Pid); err != nil || pgid != cmd.Process.Pid {
		t.Errorf("child's process group %d (%v), want its own %d", pgid, err, cmd.Process.Pid)
	}
	Stop(cmd.Process.Pid, exited, syscall.SIGTERM)
	<-exited
	if waitErr == nil || !strings.Contains(waitErr.Error(), "terminated") {
		t.Errorf("child ended with %v, want terminated by SIGTERM", waitErr)
	}
}

func TestLaunchRetriesOnlyPortsInUse(t *testing.T) {
	for _, tc := range []struct {
		log      string
		attempts int
	}{{"bind: address in use", 3}, {"bad config", 1}} {
		dir := t.TempDir()
		attempts, kills := 0, 0
		log, err := Launch(dir, func() error { return nil },
			func() error { attempts++; return errors.New("no") },
			func() { kills++ }, func() string { return tc.log })
		if err == nil || log != tc.log || attempts != tc.attempts || kills != attempts {
			t.Errorf("log %q: err %v, log %q, %d attempts, %d kills; want %d attempts", tc.log, err, log, attempts, kills, tc.attempts)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("failed launch left %s: %v", dir, err)
		}
	}
}

func TestTailAndFreePorts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	os.WriteFile(p, []byte("a\nb\nc\n"), 0o644)
	if got := Tail(p, 2); got != "b\nc\n" {
		t.Errorf("Tail = %q, want %q", got, "b\nc\n")
	}
	ports, err := FreePorts(3)
	if err != nil || len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Errorf("FreePorts(3) = %v, %v", ports, err)
	}
}
