package offsite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Object is one stored object as a listing shows it.
type Object struct {
	Key  string // relative to the store's prefix
	Size int64
	ETag string // S3's ETag without quotes: the MD5 of a single-part upload
}

// Store is the object storage an off-site copy lives in. Keys are
// relative to the store's prefix. Every object is written once and never
// replaced, so no operation here needs to be atomic beyond one PUT.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat gives the object, or an error wrapping os.ErrNotExist.
	Stat(ctx context.Context, key string) (Object, error)
	List(ctx context.Context, prefix string) ([]Object, error)
	Delete(ctx context.Context, key string) error
	// String names the store for messages: "s3://bucket/prefix".
	String() string
}

// S3Store is a Store on an S3-compatible service (minio-go).
type S3Store struct {
	cl       *minio.Client
	bucket   string
	prefix   string // "" or "a/b/"
	endpoint string
}

// NewS3 connects (lazily: nothing is sent yet) to the bucket cfg names.
// Credentials come from the environment variables cfg names, else from
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, or the
// machine's IAM role.
func NewS3(cfg *config.S3) (*S3Store, error) {
	host, secure, err := cfg.EndpointHost()
	if err != nil {
		return nil, fmt.Errorf("offsite.s3.endpoint: %w", err)
	}
	var creds *credentials.Credentials
	if cfg.AccessKeyEnv != "" {
		id, secret := os.Getenv(cfg.AccessKeyEnv), os.Getenv(cfg.SecretKeyEnv)
		if id == "" || secret == "" {
			return nil, fmt.Errorf("offsite.s3: environment variables %s and %s must both be set", cfg.AccessKeyEnv, cfg.SecretKeyEnv)
		}
		creds = credentials.NewStaticV4(id, secret, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	cl, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region,
		BucketLookup: lookup, MaxRetries: 3})
	if err != nil {
		return nil, fmt.Errorf("offsite.s3: %w", err)
	}
	p := strings.Trim(cfg.Prefix, "/")
	if p != "" {
		p += "/"
	}
	return &S3Store{cl: cl, bucket: cfg.Bucket, prefix: p, endpoint: cfg.Endpoint}, nil
}

func (s *S3Store) String() string {
	return "s3://" + s.bucket + "/" + s.prefix
}

// Put uploads in one PUT (no multipart: the ETag stays the MD5, which
// verify compares) with Content-MD5, so the server refuses bytes damaged
// on the way.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	_, err := s.cl.PutObject(ctx, s.bucket, s.prefix+key, r, size, minio.PutObjectOptions{
		DisableMultipart: true, SendContentMd5: true, ContentType: "application/octet-stream"})
	if err != nil {
		return s.explain("put "+key, err)
	}
	return nil
}

func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.cl.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.explain("get "+key, err)
	}
	// GetObject is lazy: Stat makes a missing object an error here.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.explain("get "+key, err)
	}
	return obj, nil
}

func (s *S3Store) Stat(ctx context.Context, key string) (Object, error) {
	info, err := s.cl.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.explain("stat "+key, err)
	}
	return Object{Key: key, Size: info.Size, ETag: strings.Trim(info.ETag, `"`)}, nil
}

func (s *S3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	for info := range s.cl.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if info.Err != nil {
			return nil, s.explain("list "+prefix, info.Err)
		}
		out = append(out, Object{Key: strings.TrimPrefix(info.Key, s.prefix), Size: info.Size, ETag: strings.Trim(info.ETag, `"`)})
	}
	return out, nil
}

func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := s.cl.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		return s.explain("delete "+key, err)
	}
	return nil
}

// explain turns S3's error codes into one line a user can act on. Secrets
// never appear: minio-go's errors carry no credentials.
func (s *S3Store) explain(op string, err error) error {
	where := s.String() + " at " + s.endpoint
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case minio.NoSuchBucket:
			return &Error{Permanent: true, Err: fmt.Errorf("%s: bucket %q does not exist (create it, or fix offsite.s3.bucket)", where, s.bucket)}
		case minio.NoSuchKey, "NotFound":
			return fmt.Errorf("%s: %s: %w", where, op, os.ErrNotExist)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken",
			"XAdminUserNotFound": // Versity's answer to an unknown key id (HTTP 404)
			return &Error{Permanent: true, Err: fmt.Errorf("%s: %s: access denied (%s): check the access key and secret (offsite.s3.access_key_env, secret_key_env)", where, op, er.Code)}
		}
		if er.StatusCode == 403 {
			return &Error{Permanent: true, Err: fmt.Errorf("%s: %s: access denied (%s): check the access key and secret (offsite.s3.access_key_env, secret_key_env)", where, op, er.Code)}
		}
		if er.StatusCode == 404 && er.Code == "" {
			return fmt.Errorf("%s: %s: %w", where, op, os.ErrNotExist)
		}
		return fmt.Errorf("%s: %s: %s (%s)", where, op, er.Message, er.Code)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// The URL repeats the key; the cause is what matters.
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%s: %s: cannot reach the server: %w; run it again when the server is back (it resumes)", where, op, err)
	}
	return fmt.Errorf("%s: %s: %w", where, op, err)
}

// Error is a failure that a retry cannot fix (bad credentials, no bucket).
type Error struct {
	Permanent bool
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// join builds an object key from parts.
func join(parts ...string) string { return path.Join(parts...) }
