package main

import (
	"context"
	"fmt"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
)

// withPush runs the off-site push after a job with push: true whose work
// got done, wholly or partly, and adds the push to the job's outcome: a
// failed push is one more failed line, so the job is partly done.
func withPush(ctx context.Context, env *ops.Env, j *config.Job, o *ops.Outcome) *ops.Outcome {
	if o == nil || !j.Push {
		return o
	}
	if c := o.ExitCode(); c != ops.ExitOK && c != ops.ExitPartial {
		return o
	}
	p := ops.Push(ctx, env, ops.PushOptions{})
	o.Offsite = p.Offsite
	o.Interrupted = o.Interrupted || p.Interrupted
	if p.Err != nil {
		o.Accounts = append(o.Accounts, &ops.Account{Name: "offsite push", State: ops.Failed, Err: p.Err,
			Errors: []error{p.Err}, Started: p.Started, Done: p.Finished})
		if o.Err == nil {
			o.Err, o.Hint = fmt.Errorf("push: %w", p.Err), p.Hint
		}
		return o
	}
	o.Accounts = append(o.Accounts, p.Accounts...)
	return o
}
