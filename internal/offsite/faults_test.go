package offsite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/internal/config"
)

// stopAfter stops the server after n uploads: the server gone mid-push.
type stopAfter struct {
	n    int
	stop func()
}

func (p *stopAfter) Uploaded(string, int64) {
	if p.n--; p.n == 0 {
		p.stop()
	}
}

func TestPushServerStoppedThenResumes(t *testing.T) {
	s := startS3(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	addMessages(t, src, 0, 200)
	_, err := Push(ctx, src, s.store, &PushOptions{PieceSize: 32 << 10, Progress: &stopAfter{n: 3, stop: s.srv.Stop}})
	if err == nil {
		t.Fatal("Push() with the server stopped mid-push succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot reach the server") || strings.Contains(msg, s.srv.SecretKey) || strings.Contains(msg, "\n") {
		t.Fatalf("Push() error = %q, want one line saying the server cannot be reached", msg)
	}
	t.Logf("error: %s", msg)
	s.srv.Restart(t)
	res, err := Push(ctx, src, s.store, &PushOptions{PieceSize: 32 << 10})
	if err != nil {
		t.Fatalf("Push() after restart = %v", err)
	}
	if res.Seq != 1 || res.Reused < 3 {
		t.Fatalf("Push() after restart = %+v, want seq 1 reusing the 3 pieces sent before the stop", res)
	}
	if vr, err := VerifyRemote(ctx, s.store, true); err != nil || !vr.OK() {
		t.Fatalf("VerifyRemote() = %+v, %v", vr, err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, s.store, out, nil); err != nil {
		t.Fatal(err)
	}
	checkMessages(t, out, 200)
}

func TestPushWrongCredentialsAndMissingBucket(t *testing.T) {
	s := startS3(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	addMessages(t, src, 0, 10)
	cases := []struct {
		name string
		edit func(c *config.S3)
		want string
	}{
		{"wrong secret", func(c *config.S3) { t.Setenv("TEST_S3_SECRET", "not-the-secret-0000000000") }, "access denied"},
		{"wrong key id", func(c *config.S3) { t.Setenv("TEST_S3_KEY", "nobody") }, "access denied"},
		{"missing bucket", func(c *config.S3) { c.Bucket = "no-such-bucket" }, `bucket "no-such-bucket" does not exist`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *s.cfg
			t.Setenv("TEST_S3_KEY", s.srv.AccessKey)
			t.Setenv("TEST_S3_SECRET", s.srv.SecretKey)
			tc.edit(&c)
			st, err := NewS3(&c)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range []string{"push", "pull", "verify"} {
				switch op {
				case "push":
					_, err = Push(ctx, src, st, nil)
				case "pull":
					_, err = Pull(ctx, st, filepath.Join(t.TempDir(), "x"), nil)
				case "verify":
					_, err = VerifyRemote(ctx, st, false)
				}
				var pe *Error
				if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") ||
					strings.Contains(err.Error(), s.srv.SecretKey) || !errors.As(err, &pe) || !pe.Permanent {
					t.Errorf("%s: error = %v, want one permanent line containing %q", op, err, tc.want)
				}
			}
		})
	}
}

// TestPushKilled kills a pushing process (kill -9) after some uploads:
// the remote copy stays what the last complete push made it, and the
// next push completes.
func TestPushKilled(t *testing.T) {
	if os.Getenv("OFFSITE_KILL_HELPER") != "" {
		return
	}
	s := startS3(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	addMessages(t, src, 0, 100)
	if _, err := Push(ctx, src, s.store, &PushOptions{PieceSize: 32 << 10}); err != nil {
		t.Fatal(err)
	}
	addMessages(t, src, 100, 300)
	for _, after := range []int{1, 4} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPushKilledHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "OFFSITE_KILL_HELPER="+src, fmt.Sprintf("OFFSITE_KILL_AFTER=%d", after),
			"OFFSITE_ENDPOINT="+s.cfg.Endpoint)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The helper prints "uploaded" after `after` uploads and then blocks.
		buf := make([]byte, 4096)
		var got strings.Builder
		for !strings.Contains(got.String(), "uploaded\n") {
			n, err := stdout.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				t.Fatalf("helper ended before uploading: %v: %s", err, got.String())
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		// The remote still says manifest 1, complete.
		m, err := Latest(ctx, s.store)
		if err != nil || m.Seq != 1 {
			t.Fatalf("Latest() after kill = %+v, %v; want manifest 1", m, err)
		}
		if vr, err := VerifyRemote(ctx, s.store, true); err != nil || !vr.OK() {
			t.Fatalf("VerifyRemote() after kill = %+v, %v", vr, err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, s.store, out, nil); err != nil {
		t.Fatal(err)
	}
	checkMessages(t, out, 100)
	res, err := Push(ctx, src, s.store, &PushOptions{PieceSize: 32 << 10})
	if err != nil || res.Seq != 2 || res.Reused == 0 {
		t.Fatalf("Push() after the kills = %+v, %v; want manifest 2 reusing pieces", res, err)
	}
	out2 := filepath.Join(t.TempDir(), "out2")
	if _, err := Pull(ctx, s.store, out2, nil); err != nil {
		t.Fatal(err)
	}
	checkMessages(t, out2, 300)
}

type blockAfter struct{ n int }

func (p *blockAfter) Uploaded(string, int64) {
	if p.n--; p.n == 0 {
		fmt.Println("uploaded")
		select {} // wait for kill -9
	}
}

func TestPushKilledHelper(t *testing.T) {
	src := os.Getenv("OFFSITE_KILL_HELPER")
	if src == "" {
		t.Skip("helper process of TestPushKilled")
	}
	var after int
	fmt.Sscan(os.Getenv("OFFSITE_KILL_AFTER"), &after)
	st, err := NewS3(testS3Config(os.Getenv("OFFSITE_ENDPOINT")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Push(context.Background(), src, st, &PushOptions{PieceSize: 32 << 10, Progress: &blockAfter{n: after}})
	t.Fatalf("Push() returned %v before it was killed", err)
}

// TestPushStoppedBeforeRecording: killed after the manifest went up but
// before offsite.json recorded it, the archive still knows the manifest
// is its own and the next push goes on.
func TestPushStoppedBeforeRecording(t *testing.T) {
	s := startS3(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	addMessages(t, src, 0, 20)
	if _, err := Push(ctx, src, s.store, nil); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(src, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	addMessages(t, src, 20, 25)
	if _, err := Push(ctx, src, s.store, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, stateFile), before, 0o600) // as if the second push never recorded manifest 2
	addMessages(t, src, 25, 30)
	res, err := Push(ctx, src, s.store, nil)
	if err != nil || res.Seq != 3 {
		t.Fatalf("Push() after an unrecorded manifest = %+v, %v; want manifest 3", res, err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, s.store, out, nil); err != nil {
		t.Fatal(err)
	}
	checkMessages(t, out, 30)
}

type cancelAfter struct {
	n      int
	cancel func()
}

func (p *cancelAfter) Uploaded(string, int64) {
	if p.n--; p.n == 0 {
		p.cancel()
	}
}

// TestPullInterruptedThenAgain: a pull stopped half-way leaves no archive
// (no marker), and the same pull run again completes.
func TestPullInterruptedThenAgain(t *testing.T) {
	s := startS3(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	addMessages(t, src, 0, 200)
	if _, err := Push(ctx, src, s.store, &PushOptions{PieceSize: 32 << 10}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	cctx, cancel := context.WithCancel(ctx)
	if _, err := Pull(cctx, s.store, out, &PullOptions{Progress: &cancelAfter{n: 3, cancel: cancel}}); err == nil {
		t.Fatal("Pull() cancelled half-way succeeded")
	}
	if _, err := os.Stat(filepath.Join(out, "mailkeep-archive")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an interrupted pull left an archive marker (%v)", err)
	}
	if _, err := Pull(ctx, s.store, out, nil); err != nil {
		t.Fatalf("Pull() again after an interrupted one = %v", err)
	}
	checkMessages(t, out, 200)
}
