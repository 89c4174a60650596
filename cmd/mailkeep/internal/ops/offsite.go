package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/offsite"
)

// The off-site operations: Push (the push command and jobs with push:
// true), Pull and VerifyOffsite. Their results are in Outcome.Offsite.

// OffsiteResult is what an off-site operation did.
type OffsiteResult struct {
	Store  string // "s3://bucket/prefix/"
	Push   *offsite.PushResult
	Pull   *offsite.PullResult
	Verify *offsite.VerifyResult
}

// PrefixEnv overrides offsite.s3.prefix: one config for many workers,
// each pushing its shard's archive to its own prefix (examples/kubernetes).
const PrefixEnv = "MAILKEEP_OFFSITE_PREFIX"

// Store opens the store the config names.
func Store(cfg *config.Config) (*offsite.S3Store, error) {
	if cfg.Offsite == nil || cfg.Offsite.S3 == nil {
		return nil, &Error{Usage: true, Err: fmt.Errorf("%s has no offsite: {s3: {...}} section", cfg.Path),
			Hint: "see 'Off-site and encrypted' in the README"}
	}
	s3 := *cfg.Offsite.S3
	if p, ok := os.LookupEnv(PrefixEnv); ok {
		s3.Prefix = strings.Trim(p, "/")
	}
	st, err := offsite.NewS3(&s3)
	if err != nil {
		return nil, &Error{Usage: true, Err: err}
	}
	return st, nil
}

// Keys loads the config's age keys.
func Keys(cfg *config.Config) (*offsite.Keys, error) {
	k, err := offsite.LoadKeys(cfg.Encryption)
	if err != nil {
		return nil, &Error{Usage: true, Err: err}
	}
	return k, nil
}

// PushOptions say which archive to push; "" is the config's.
type PushOptions struct {
	Archive string
}

// Push sends what is new in the archive to the off-site copy.
func Push(ctx context.Context, env *Env, o PushOptions) *Outcome {
	out := &Outcome{Op: "push", Started: time.Now()}
	dir := o.Archive
	if dir == "" {
		dir = env.Config.Archive
	}
	st, err := Store(env.Config)
	if err != nil {
		return out.fail(err).finish(false)
	}
	keys, err := Keys(env.Config)
	if err != nil {
		return out.fail(err).finish(false)
	}
	res, err := offsite.Push(ctx, dir, st, &offsite.PushOptions{Keys: keys})
	out.Offsite = &OffsiteResult{Store: st.String(), Push: res}
	if err != nil {
		return out.offsiteFail(err).finish(ctx.Err() != nil)
	}
	out.Accounts = []*Account{{Name: "offsite " + st.String(), Bytes: res.Bytes, Started: out.Started, Done: time.Now(),
		Counts: []Count{{"manifest", res.Seq}, {"objects", int64(res.Objects)}, {"reused", int64(res.Reused)}}}}
	return out.finish(ctx.Err() != nil)
}

// PullOptions say where to rebuild the archive.
type PullOptions struct {
	Into      string
	IndexOnly bool
	// MissingOK makes "no copy there yet" a success that pulls nothing:
	// a worker's first run.
	MissingOK bool
}

// Pull rebuilds an archive from the off-site copy.
func Pull(ctx context.Context, env *Env, o PullOptions) *Outcome {
	out := &Outcome{Op: "pull", Started: time.Now()}
	if o.Into == "" {
		return out.fail(Usagef("pull needs --into DIR")).finish(false)
	}
	st, err := Store(env.Config)
	if err != nil {
		return out.fail(err).finish(false)
	}
	keys, err := Keys(env.Config)
	if err != nil {
		return out.fail(err).finish(false)
	}
	res, err := offsite.Pull(ctx, st, o.Into, &offsite.PullOptions{IndexOnly: o.IndexOnly, Keys: keys})
	out.Offsite = &OffsiteResult{Store: st.String(), Pull: res}
	if errors.Is(err, offsite.ErrNoCopy) && o.MissingOK {
		return out.finish(false)
	}
	if err != nil {
		return out.offsiteFail(err).finish(ctx.Err() != nil)
	}
	return out.finish(ctx.Err() != nil)
}

// VerifyOffsite checks every object the newest manifest names; deep
// downloads each and checks its SHA-256.
func VerifyOffsite(ctx context.Context, env *Env, deep bool) *Outcome {
	out := &Outcome{Op: "verify", Started: time.Now()}
	st, err := Store(env.Config)
	if err != nil {
		return out.fail(err).finish(false)
	}
	res, err := offsite.VerifyRemote(ctx, st, deep)
	out.Offsite = &OffsiteResult{Store: st.String(), Verify: res}
	if err != nil {
		return out.offsiteFail(err).finish(ctx.Err() != nil)
	}
	if !res.OK() {
		out.Failed = true
		out.Err = fmt.Errorf("off-site copy %s is damaged: %d of %d objects", st, len(res.Problems), res.Objects)
		out.Hint = "push from an intact archive into a new offsite.s3.prefix"
	}
	return out.finish(ctx.Err() != nil)
}

// offsiteFail: a wrong key or a missing bucket is permanent; anything
// else may be retried, and resumes.
func (o *Outcome) offsiteFail(err error) *Outcome {
	o.fail(err)
	var pe *offsite.Error
	switch {
	case errors.Is(err, context.Canceled):
		o.Err = errors.New("interrupted; the off-site copy is as the last complete push left it, and the next push resumes")
	case errors.As(err, &pe) && pe.Permanent:
	case o.Op == "push":
		o.Hint = "run it again: what was sent is kept and the push resumes"
	default:
		o.Hint = "run it again when the server is back"
	}
	return o
}
