package s3test

import (
	"bytes"
	"context"
	"io"
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
