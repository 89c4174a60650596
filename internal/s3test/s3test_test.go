package s3test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestStartPutGetRestart(t *testing.T) {
	s := Start(t)
	s.CreateBucket(t, "bkt")
	ctx := context.Background()
	cl := s.client()
	data := []byte("hello from s3test")
	info, err := cl.PutObject(ctx, "bkt", "x/y", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{DisableMultipart: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etag %s", info.ETag)
	s.Restart(t)
	obj, err := cl.GetObject(ctx, "bkt", "x/y", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetObject after restart = %q, %v; want %q", got, err, data)
	}
	if files := s.Files(t); len(files) == 0 {
		t.Fatal("Files() = none, want the stored object")
	}
}

func TestBinaryNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("GOBIN", "")
	t.Setenv("GOPATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	if p, err := Binary(); err == nil {
		t.Fatalf("Binary() = %q with nothing installed, want an error", p)
	}
	gobin := t.TempDir()
	if err := os.WriteFile(filepath.Join(gobin, "versitygw"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOBIN", gobin)
	if p, err := Binary(); err != nil || p != filepath.Join(gobin, "versitygw") {
		t.Fatalf("Binary() = %q, %v; want the one in $GOBIN", p, err)
	}
}
