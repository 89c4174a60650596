// Command mailkeep backs up, exports, restores and migrates mailboxes.
//
// Output rules (what a user and a script can rely on):
//   - Results (ls tables, summaries, JSON) go to standard output.
//   - Progress, warnings and errors go to standard error: a progress bar on
//     a terminal, otherwise one line per account and folder.
//   - An error is one line "mailkeep: error: ..." naming account, folder
//     and message where it happened; "mailkeep: hint: ..." may follow.
//   - --json makes standard output one JSON object per line.
//   - Exit codes: 0 all done, 1 failed, 2 usage or config error, 3 partly
//     done (some accounts or messages failed, the rest completed), 130
//     interrupted.
//   - Secrets never appear in any output.
//
// The main loop:
//
//	main: apply the memory policy once; run(args)
//	run:  cobra finds the command; the command parses its flags into
//	      typed options and calls its operation in internal/ops:
//	        o := ops.Backup(ctx, env, ops.BackupOptions{...})
//	      prints o (ui.go: bars, lines or JSON; the detailed tables), and
//	      returns done(o); exitOf maps that to the exit code (o.ExitCode())
//	      and the last "mailkeep: error/hint:" lines.
//	run --daemon: the scheduler starts jobs; each job calls the same
//	      operation (jobops.go execute) and logs its outcome with slog.
//
// A new command is a new file whose init adds its constructor to
// subcommands: one line.
package main
