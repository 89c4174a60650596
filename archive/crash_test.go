package archive

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestKillBetweenFsyncAndCommit: a real SIGKILL of a writer process after
// its pack fsync and before its index commit, and one in the middle of a
// checkpoint's writes. The next writer resumes without refusing, loses
// nothing that was committed, stores nothing twice, and the archive
// verifies.
func TestKillBetweenFsyncAndCommit(t *testing.T) {
	for _, when := range []string{"before-commit", "mid-write"} {
		t.Run(when, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			writeFixture(t, dir, 1, 5, false) // committed
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$", "-test.count=1")
			cmd.Env = append(os.Environ(), "MAILKEEP_CRASH_ARCHIVE="+dir, "MAILKEEP_CRASH_WHEN="+when)
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("writer was not killed: %v\n%s", err, out)
			}
			before := snapshotFiles(t, dir)
			w := &warnings{}
			r, err := Open(ctx, dir, &Options{Create: true, Report: w})
			if err != nil {
				t.Fatalf("Open() after kill -9 = %v; want the run resumed", err)
			}
			defer r.Close()
			// Every message of the killed run is either indexed again or
			// kept in lost+found; the committed ones read back.
			for uid := uint32(1); uid <= 5; uid++ {
				if got, err := r.ReadMessage(ctx, HashBytes(fixtureMsg(uid))); err != nil || !bytes.Equal(got, fixtureMsg(uid)) {
					t.Fatalf("committed message %d: %v", uid, err)
				}
			}
			var stored, pack0 int64
			for uid := uint32(6); uid <= 30; uid++ {
				if ok, _ := r.HasBlob(ctx, HashBytes(fixtureMsg(uid))); ok {
					stored++
				}
			}
			pack0 = int64(len(before["00000001.pack"]))
			// The next backup stores the rest again: nothing twice.
			for uid := uint32(6); uid <= 30; uid++ {
				if _, _, err := r.PutMessage(ctx, fixtureMsg(uid)); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := r.Verify(ctx, "", nil)
			if err != nil || !res.OK() || res.Checked != 30 {
				t.Fatalf("Verify() = %+v, %v; want 30 intact", res, err)
			}
			if when == "mid-write" {
				if ents, _ := os.ReadDir(filepath.Join(dir, "lost+found")); len(ents) != 1 {
					t.Fatalf("lost+found holds %d files, want the unfinished write", len(ents))
				}
			}
			if when == "before-commit" && stored != 25 {
				t.Fatalf("%d of the 25 synced messages indexed again, want all (warnings %q)", stored, w.list)
			}
			// No message is stored twice in the data files.
			st, _ := os.Stat(filepath.Join(dir, "data", "00000001.pack"))
			var sum int64
			for uid := uint32(1); uid <= 30; uid++ {
				b, _ := r.Locate(ctx, HashBytes(fixtureMsg(uid)))
				sum += b.Length + skipLen
			}
			if when == "before-commit" && st.Size() != sum {
				t.Fatalf("pack is %d bytes, its 30 messages %d: something is stored twice (was %d)", st.Size(), sum, pack0)
			}
		})
	}
}

// TestCrashWriter is TestKillBetweenFsyncAndCommit's child: it writes 25
// messages and is killed at the chosen moment.
func TestCrashWriter(t *testing.T) {
	dir := os.Getenv("MAILKEEP_CRASH_ARCHIVE")
	if dir == "" {
		t.Skip("run by TestKillBetweenFsyncAndCommit")
	}
	ctx := context.Background()
	r, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	kill := func() { syscall.Kill(os.Getpid(), syscall.SIGKILL); select {} }
	testHookBeforeIndexCommit = kill
	for uid := uint32(6); uid <= 30; uid++ {
		if _, _, err := r.PutMessage(ctx, fixtureMsg(uid)); err != nil {
			t.Fatal(err)
		}
		if os.Getenv("MAILKEEP_CRASH_WHEN") == "mid-write" && uid == 20 {
			// Half of the next frame written, nothing synced.
			frame := r.enc.EncodeAll(fixtureMsg(99), nil)
			r.mu.Lock()
			r.pack.f.WriteAt(append(append([]byte{}, frameHeader...), frame[:len(frame)/2]...), r.pack.size)
			r.mu.Unlock()
			kill()
		}
	}
	r.Commit(ctx)
	fmt.Println("not killed")
}
