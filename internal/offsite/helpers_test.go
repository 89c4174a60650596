package offsite

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/s3test"
)

// knownSubject is in every test message; encrypted copies must not show it.
const knownSubject = "Quarterly figures for the Zanzibar office"

// testMessage is message i: distinct, partly compressible, about 6 KB.
func testMessage(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender%d@example.com\r\nTo: you@example.com\r\nSubject: %s %d\r\nMessage-ID: <m%d@example.com>\r\n\r\n", i, knownSubject, i, i)
	words := []string{"ledger", "invoice", "meeting", "tomorrow", "please", "review", "attached", "budget"}
	for b.Len() < 6000 {
		if rng.IntN(4) == 0 {
			fmt.Fprintf(&b, "%x ", rng.Uint64())
		} else {
			b.WriteString(words[rng.IntN(len(words))] + " ")
		}
		if rng.IntN(12) == 0 {
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// addMessages stores messages [from, to) in account "work", folder INBOX,
// with UID = i+1, and commits.
func addMessages(t *testing.T, dir string, from, to int) {
	t.Helper()
	ctx := context.Background()
	r, err := archive.Open(ctx, dir, &archive.Options{Create: true, PackSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	acct, err := r.Account(ctx, "work", "imap")
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Folder(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		raw := testMessage(i)
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddMessage(ctx, &archive.Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: h, Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkMessages reads every message [0, n) back from the archive in dir.
func checkMessages(t *testing.T, dir string, n int) {
	t.Helper()
	ctx := context.Background()
	r, err := archive.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := 0
	for e, err := range r.Messages(ctx, archive.Query{Account: "work"}) {
		if err != nil {
			t.Fatal(err)
		}
		raw, err := r.ReadMessage(ctx, e.Hash)
		if err != nil {
			t.Fatalf("ReadMessage(uid %d) = %v", e.UID, err)
		}
		if want := testMessage(int(e.UID) - 1); !bytes.Equal(raw, want) {
			t.Fatalf("message uid %d differs from the original (%d bytes, want %d)", e.UID, len(raw), len(want))
		}
		seen++
	}
	if seen != n {
		t.Fatalf("archive %s holds %d messages, want %d", dir, seen, n)
	}
	res, err := r.Verify(ctx, "", nil)
	if err != nil || !res.OK() {
		t.Fatalf("Verify() = %+v, %v", res, err)
	}
}

type testS3 struct {
	srv   *s3test.Server
	cfg   *config.S3
	store *S3Store
}

func startS3(t *testing.T) *testS3 {
	t.Helper()
	srv := s3test.Start(t)
	srv.CreateBucket(t, "mailkeep-test")
	t.Setenv("TEST_S3_KEY", srv.AccessKey)
	t.Setenv("TEST_S3_SECRET", srv.SecretKey)
	cfg := testS3Config("http://" + srv.Endpoint)
	st, err := NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testS3{srv: srv, cfg: cfg, store: st}
}

func testS3Config(endpoint string) *config.S3 {
	return &config.S3{Endpoint: endpoint, Bucket: "mailkeep-test", Prefix: "shard-0", Region: "us-east-1",
		PathStyle: true, AccessKeyEnv: "TEST_S3_KEY", SecretKeyEnv: "TEST_S3_SECRET"}
}

// grepFiles fails if any file under the given paths contains needle.
func grepFiles(t *testing.T, needle string, files ...string) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(needle)) {
			t.Errorf("%s contains %q", f, needle)
		}
	}
}

func packFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "data", "*.pack"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no packs in %s (%v)", dir, err)
	}
	return m
}
