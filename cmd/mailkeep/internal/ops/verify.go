package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// VerifyOptions say what to check.
type VerifyOptions struct {
	Archive  string // the archive directory
	Account  string // "": all
	Progress archive.VerifyProgress
}

// Verify re-reads every archived message (of an account, or all) and
// checks it against the index.
func Verify(ctx context.Context, env *Env, o VerifyOptions) *Outcome {
	out := &Outcome{Op: "verify", Started: time.Now()}
	repo, err := env.openReader(ctx, o.Archive, false) // seal.go: the identity, if any, verifies the content too
	if err != nil {
		return out.fail(err).finish(ctx.Err() != nil)
	}
	defer repo.Close()
	if o.Account != "" {
		if err := ArchiveAccount(ctx, repo, o.Account); err != nil {
			return out.fail(err).finish(false)
		}
	}
	res, err := repo.Verify(ctx, o.Account, o.Progress)
	if err != nil {
		return out.fail(err).finish(ctx.Err() != nil)
	}
	out.Verify = res
	name := o.Account
	if name == "" {
		name = "(all accounts)"
	}
	a := &Account{Name: name, Bytes: res.Bytes, Started: out.Started, Done: time.Now(),
		Counts: []Count{{"checked", res.Checked}, {"damaged", int64(len(res.Damaged))}, {"damaged_files", int64(len(res.Packs))}}}
	out.Accounts = []*Account{a}
	if !res.OK() {
		a.State = Failed
		for _, p := range res.Packs {
			a.Errors = append(a.Errors, fmt.Errorf("data file: %s", p))
		}
		for _, d := range res.Damaged {
			a.Errors = append(a.Errors, fmt.Errorf("damaged: %s offset %d: %v; held by %v", d.Pack, d.Offset, d.Err, d.Places))
		}
		out.Err = fmt.Errorf("archive %s is damaged: %d messages, %d data files", o.Archive, len(res.Damaged), len(res.Packs))
		out.Hint = "copy the named data files back from another copy of the archive, or keep this archive and start a new one for new backups"
	}
	return out.finish(ctx.Err() != nil)
}
