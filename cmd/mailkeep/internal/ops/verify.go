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
		Counts: []Count{{"checked", res.Checked}, {"damaged", int64(len(res.Damaged))}, {"damaged_files", int64(len(res.Packs))},
			{"missing", int64(len(res.Missing))}}}
	out.Accounts = []*Account{a}
	if !res.OK() {
		a.State = Failed
		for _, p := range res.Index {
			a.Errors = append(a.Errors, fmt.Errorf("index.db: %s", p))
		}
		for _, p := range res.Packs {
			a.Errors = append(a.Errors, fmt.Errorf("data file: %s", p))
		}
		for _, d := range res.Damaged {
			a.Errors = append(a.Errors, fmt.Errorf("damaged: %s offset %d: %v; held by %v", d.Pack, d.Offset, d.Err, d.Places))
		}
		for _, p := range res.Missing {
			a.Errors = append(a.Errors, fmt.Errorf("missing: %s: its stored copy was damaged; a backup fetches it again from the server if the server still has it", p))
		}
		switch {
		case len(res.Index) > 0:
			out.Err = fmt.Errorf("archive %s: the index (index.db) is damaged: %s", o.Archive, res.Index[0])
			out.Hint = repairHint(o.Archive)
		default:
			out.Err = fmt.Errorf("archive %s is damaged: %d messages, %d data files, %d places missing", o.Archive, len(res.Damaged), len(res.Packs), len(res.Missing))
			out.Hint = markDamaged(ctx, o.Archive, res)
		}
	}
	return out.finish(ctx.Err() != nil)
}

// markDamaged stops the damaged messages counting as archived, so that the
// next backup stores them again from the servers that still have them. It
// needs the write lock; when it cannot have it (a read-only archive, a
// writer at work), the hint says to run repair. It returns the hint.
func markDamaged(ctx context.Context, dir string, res *archive.VerifyResult) string {
	fallback := "copy the named data files back from another copy of the archive; " + repairHint(dir) +
		", and marks the lost messages so that the next backup fetches them again"
	if len(res.Damaged) == 0 || len(res.Packs) > 0 {
		return fallback
	}
	w, err := archive.Open(ctx, dir, &archive.Options{Purpose: "mailkeep verify"})
	if err != nil {
		return fallback
	}
	defer w.Close()
	hashes := make([]archive.Hash, len(res.Damaged))
	for i, d := range res.Damaged {
		hashes[i] = d.Hash
	}
	if _, err := w.MarkMissing(ctx, hashes); err != nil {
		return fallback
	}
	if err := w.Commit(ctx); err != nil {
		return fallback
	}
	return "the damaged messages no longer count as archived: the next backup stores them again from the servers that still have them"
}
