// Package ops is mailkeep's operations as typed functions: Backup,
// Restore, Migrate, Cleanup, Export, Import and Verify each take an Env
// (config, progress reporter, job name) and typed options, and return an
// Outcome: per-account and per-folder counts, each error with its place,
// and one ExitCode. The CLI prints outcomes; the job runner calls the
// same functions and logs them. Nothing here prints.
//
//	out := ops.Backup(ctx, env, ops.BackupOptions{Accounts: names})
//	//   open the archive (writer), back each account up concurrently,
//	//   record each account's run, commit
//	print(out) or log(out)
//	os.Exit(out.ExitCode()) // 0 done, 1 failed, 2 usage, 3 partly, 130 interrupted
package ops
