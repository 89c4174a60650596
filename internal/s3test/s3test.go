package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// RequireEnv names the environment variable that turns "versitygw is not
// available" from a skipped test into a failed one (CI sets it to 1).
const RequireEnv = "MAILKEEP_REQUIRE_S3"

const install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is a running private S3 gateway.
type Server struct {
	Endpoint  string // host:port on 127.0.0.1, plain HTTP
	AccessKey string
	SecretKey string
	Region    string
	Dir       string // the posix backend's root: one directory per bucket

	binary string
	addr   string
	logf   *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary finds versitygw: $PATH, then $GOBIN, $GOPATH/bin, ~/go/bin, and
// go env's GOBIN and GOPATH/bin.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("GOPATH"); d != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(d)[0], "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	// Where 'go install' put it when GOBIN or GOPATH come from 'go env -w'.
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if lines[0] != "" {
				dirs = append(dirs, lines[0])
			}
			if gp := filepath.SplitList(lines[1]); len(gp) > 0 && gp[0] != "" {
				dirs = append(dirs, filepath.Join(gp[0], "bin"))
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found in PATH, $GOBIN or ~/go/bin")
}

// Start runs a private gateway for the calling test and stops it when the
// test ends. It skips the test when versitygw is not installed, or fails it
// when MAILKEEP_REQUIRE_S3=1.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		msg := fmt.Sprintf("%v (%s); set %s=1 to make this a failure", err, install, RequireEnv)
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	dir := tb.TempDir()
	s := &Server{
		AccessKey: "mailkeep-test", SecretKey: "mailkeep-test-secret-0123456789", Region: "us-east-1",
		Dir: filepath.Join(dir, "root"), binary: bin,
	}
	for _, d := range []string{s.Dir, filepath.Join(dir, "meta")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	s.logf, err = os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	s.Endpoint = s.addr
	tb.Cleanup(func() {
		s.Stop()
		s.logf.Close()
		if tb.Failed() {
			if log, _ := os.ReadFile(s.logf.Name()); len(log) > 0 {
				tb.Logf("versitygw log:\n%s", tail(log, 4000))
			}
		}
	})
	if err := s.start(filepath.Join(dir, "meta")); err != nil {
		tb.Fatal(err)
	}
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (s *Server) start(meta string) error {
	cmd := exec.Command(s.binary, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
		"--port", s.addr, "--quiet", "posix", "--sidecar", meta, s.Dir)
	cmd.Stdout = s.logf
	cmd.Stderr = s.logf
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=", "ROOT_SECRET_ACCESS_KEY=")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	// Ready when it accepts a connection and answers ListBuckets.
	deadline := time.Now().Add(30 * time.Second)
	cl := s.client()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cl.ListBuckets(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(s.logf.Name())
			return fmt.Errorf("versitygw exited at start: %s", bytes.TrimSpace(tail(log, 2000)))
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("versitygw did not answer on %s within 30s: %v", s.addr, err)
		}
		// Polling a port that is not open yet: back off briefly.
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) client() *minio.Client {
	cl, err := minio.New(s.addr, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: s.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		panic(err) // only on a malformed endpoint, which ours never is
	}
	return cl
}

// CreateBucket makes a bucket.
func (s *Server) CreateBucket(tb testing.TB, name string) {
	tb.Helper()
	if err := s.client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
}

// Stop kills the gateway (SIGKILL: the server vanishing, as in a crash).
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts the gateway again on the same port and data.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	if err := s.start(filepath.Join(filepath.Dir(s.Dir), "meta")); err != nil {
		tb.Fatal(err)
	}
}

// Files lists every file the gateway stores (objects and their
// directories' files), for tests that inspect what was uploaded.
func (s *Server) Files(tb testing.TB) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(s.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
