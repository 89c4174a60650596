package ops

import (
	"context"

	"github.com/mailkeep/mailkeep/archive"
)

// For search, show and serve, which read message bodies outside the
// operations above: the archive with the env's keys (seal.go).

// OpenArchiveReader opens the archive in dir to read it, with the env's keys.
func (env *Env) OpenArchiveReader(ctx context.Context, dir string) (*archive.Repo, error) {
	return env.openReader(ctx, dir, false)
}

// OpenArchiveWriter opens the archive in dir for writing (it waits for
// no other writer), with the env's keys: to build the search index.
func (env *Env) OpenArchiveWriter(ctx context.Context, dir, purpose string) (*archive.Repo, error) {
	compression := ""
	if env.Config != nil {
		compression = env.Config.Compression
	}
	return env.openWriterAt(ctx, dir, compression, purpose)
}
