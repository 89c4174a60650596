package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
)

// CleanupOptions say what to delete from an account's server once it is
// archived and verified. At least one of Before and LargerThan is set.
type CleanupOptions struct {
	Account      string
	Before       time.Time // dated before this
	LargerThan   int64     // bytes
	Folders      config.FolderFilter
	ByDateHeader bool
	GmailTrash   bool
	AllowExpunge bool
	DryRun       bool
	Batch        int
}

// Cleanup backs the account up, verifies the archived copies and
// deletes them on the server.
func Cleanup(ctx context.Context, env *Env, o CleanupOptions) *Outcome {
	out := &Outcome{Op: "cleanup", Started: time.Now(), DryRun: o.DryRun}
	acct, err := env.account(o.Account)
	if err != nil {
		return out.fail(err).finish(false)
	}
	if acct.Protocol() != "imap" {
		return out.fail(Usagef("account %s is %s; cleanup works on IMAP accounts (POP3 accounts use delete_after)", acct.Name, acct.Protocol())).finish(false)
	}
	dial, err := env.IMAPDialer(acct)
	if err != nil {
		return out.fail(err).finish(false)
	}
	repo, err := openWriter(ctx, env, "mailkeep cleanup")
	if err != nil {
		return out.fail(err).finish(ctx.Err() != nil)
	}
	defer repo.Close()
	res := backup.Cleanup(ctx, repo, &backup.CleanupAccount{
		Name: acct.Name, Dial: dial, Include: acct.Folders.Match, Folders: o.Folders,
		Before: o.Before, ByDateHeader: o.ByDateHeader, LargerThan: o.LargerThan,
		GmailTrash: o.GmailTrash, AllowExpunge: o.AllowExpunge, DryRun: o.DryRun, BatchSize: o.Batch,
		// Several folders at a time, as many as the account's connections.
		Connections: acct.Connections,
	}, env.Reporter)
	out.Cleanup = res
	if !o.DryRun {
		run := archive.Run{Account: acct.Name, Job: env.Job, Kind: "cleanup", Started: res.Started, Finished: res.Finished,
			OK: res.OK(), Messages: res.Deleted, Bytes: res.Bytes, Errors: int64(len(res.Errors))}
		run.Error = runError(ctx, run.OK, res.Err())
		if err := record(ctx, repo, run); err != nil {
			out.fail(err)
		}
	}
	a := &Account{Name: res.Account, Bytes: res.Bytes, Started: res.Started, Done: res.Finished, Errors: res.Errors, Err: res.Err(),
		Counts: nonZero(Count{"deleted", res.Deleted}, Count{"candidates", res.Candidates}, Count{"kept", res.Kept}, Count{"recovered", res.Recovered})}
	failedFolders := 0
	for _, f := range res.Folders {
		a.Folders = append(a.Folders, Folder{Name: f.Name, Bytes: f.Bytes, Err: f.Err,
			Counts: []Count{{"candidates", f.Candidates}, {"deleted", f.Deleted}, {"kept", f.KeptTotal()}}})
		if f.Err != nil {
			failedFolders++
		}
	}
	out.Accounts = []*Account{a}
	switch {
	case res.OK():
		a.State = OK
	case res.Fatal != nil:
		a.State = Failed
		if len(res.Folders) == 0 && errors.Is(res.Fatal, backup.ErrNoMatch) {
			// The error itself was reported (progress: failed) as it happened.
			out.Usage = true
			out.Hint = "see 'mailkeep ls " + acct.Name + "' or 'mailkeep check " + acct.Name + "' for folder names; patterns use * and %"
		}
	case len(res.Folders) > 0 && failedFolders == len(res.Folders) && res.Deleted == 0:
		a.State = Failed
	default:
		a.State = Partial
		out.Err = fmt.Errorf("%s: cleanup partly done: some messages were kept for reasons shown above, or failed", acct.Name)
	}
	return out.finish(ctx.Err() != nil)
}
