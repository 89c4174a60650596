package ops

import (
	"context"
	"errors"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/offsite"
)

// Encryption at rest: every archive an operation opens gets the config's
// age keys, so new messages are stored encrypted (recipients) and
// encrypted ones can be read (identity).

// sealerOf is the archive encryption cfg asks for: nil without an
// encryption section; with a nil cfg, one that names the missing config
// when an encrypted message is read.
func sealerOf(cfg *config.Config) (archive.Sealer, error) {
	if cfg == nil {
		return archive.AgeSealer(nil, nil, "no config file names encryption.identity_file (pass --config)"), nil
	}
	if cfg.Encryption == nil {
		return nil, nil
	}
	k, err := offsite.LoadKeys(cfg.Encryption)
	if err != nil {
		return nil, &Error{Usage: true, Err: err}
	}
	return archive.AgeSealer(k.Recipients, k.Identities, k.Why()), nil
}

// seal gives repo cfg's keys; on failure it closes repo.
func seal(repo *archive.Repo, cfg *config.Config) (*archive.Repo, error) {
	s, err := sealerOf(cfg)
	if err != nil {
		repo.Close()
		return nil, err
	}
	if s != nil {
		repo.SetSealer(s)
	}
	return repo, nil
}

// openReader opens the archive in dir to read it, with the env's keys.
// With mustRead, an encrypted archive without its identity fails here, in
// one line, instead of once per message.
func (env *Env) openReader(ctx context.Context, dir string, mustRead bool) (*archive.Repo, error) {
	repo, err := OpenReader(ctx, dir)
	if err != nil {
		return nil, err
	}
	if repo, err = seal(repo, env.Config); err != nil {
		return nil, err
	}
	if mustRead {
		return canRead(ctx, repo)
	}
	return repo, nil
}

// canRead fails (closing repo) when repo is encrypted and there is no
// identity to read it.
func canRead(ctx context.Context, repo *archive.Repo) (*archive.Repo, error) {
	if err := repo.CanRead(ctx); err != nil {
		repo.Close()
		return nil, &Error{Err: err, Hint: "set encryption.identity_file in the config to the key 'mailkeep keygen' wrote"}
	}
	return repo, nil
}

// openWriterAt opens the archive in dir for writing, with the env's keys.
// The keys go in at Open: a writer's recovery may read encrypted messages.
func (env *Env) openWriterAt(ctx context.Context, dir, compression, purpose string) (*archive.Repo, error) {
	s, err := sealerOf(env.Config)
	if err != nil {
		return nil, err
	}
	return OpenWriter(ctx, dir, compression, purpose, env.Reporter, s)
}

// EncryptOptions say which archive to re-encrypt.
type EncryptOptions struct {
	Archive  string // "" is the config's
	Progress archive.ResealProgress
}

// Encrypt is 'repair --encrypt': every message stored before encryption
// was turned on is rewritten encrypted, and the data files that held them
// are removed (a push then removes them off-site too).
func Encrypt(ctx context.Context, env *Env, o EncryptOptions) *Outcome {
	out := &Outcome{Op: "repair", Started: time.Now()}
	if env.Config == nil || !env.Config.Encryption.Enabled() {
		return out.fail(Usagef("repair --encrypt needs encryption.recipients (or recipient_file) in the config")).finish(false)
	}
	dir := o.Archive
	if dir == "" {
		dir = env.Config.Archive
	}
	repo, err := env.openWriterAt(ctx, dir, env.Config.Compression, "mailkeep repair --encrypt")
	if err != nil {
		return out.fail(err).finish(ctx.Err() != nil)
	}
	defer repo.Close()
	res, err := repo.Reseal(ctx, o.Progress)
	out.Reseal = res
	a := &Account{Name: "(all accounts)", Started: out.Started, Done: time.Now()}
	if res != nil {
		a.Bytes = res.Bytes
		a.Counts = []Count{{"encrypted", res.Messages}, {"files_removed", int64(len(res.Removed))}}
	}
	out.Accounts = []*Account{a}
	if err != nil {
		out.fail(err)
		if ctx.Err() != nil {
			out.Err = errors.New("interrupted; what was re-encrypted is kept, and the next 'repair --encrypt' goes on from there")
		}
		return out.finish(ctx.Err() != nil)
	}
	return out.finish(false)
}
