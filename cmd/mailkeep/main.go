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
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, a documented contract (README "Exit codes").
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitPartial     = 3
	exitInterrupted = 130
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error // printed as "mailkeep: error: ..." unless nil
	hint string
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// subcommands is filled by each command's file in an init function, so a
// new command is one new file.
var subcommands []func(*globals) *cobra.Command

type globals struct {
	configPath string
	json       bool
	quiet      bool
	verbose    int
	logFormat  string
	job        string // set by 'run' when it runs a command for a job
	stdout     io.Writer
	stderr     io.Writer
	log        *slog.Logger
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultHeapLimit is the soft limit of the Go heap unless GOMEMLIMIT says
// otherwise: mailkeep streams everything, so its live heap is small, and
// without a limit the garbage collector lets the heap grow to twice that.
// A soft limit only makes the collector work harder near it.
const defaultHeapLimit = 40 << 20

func run(args []string, stdout, stderr io.Writer) int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultHeapLimit)
	}
	if path := os.Getenv("MAILKEEP_CPUPROFILE"); path != "" {
		// For developers measuring mailkeep (bench/): a pprof CPU profile.
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// cobra's own errors: unknown command, bad flag.
		ee = &exitError{code: exitUsage, err: err, hint: "run 'mailkeep --help' for usage"}
	}
	if ctx.Err() != nil && ee.code != exitUsage {
		ee.code = exitInterrupted
		if ee.err == nil || errors.Is(ee.err, context.Canceled) {
			ee.err = errors.New("interrupted; the archive is consistent and the next run resumes")
		}
	}
	if ee.err != nil {
		fmt.Fprintf(stderr, "mailkeep: error: %s\n", oneLine(ee.err.Error()))
	}
	if ee.hint != "" {
		fmt.Fprintf(stderr, "mailkeep: hint: %s\n", ee.hint)
	}
	return ee.code
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "mailkeep",
		Short: "Back up, export, restore and migrate IMAP and POP3 mailboxes",
		Long: `mailkeep keeps byte-exact, deduplicated, compressed archives of IMAP and POP3
accounts, and can export, restore and migrate them.

Configuration is a YAML file (--config, default ./mailkeep.yaml or
~/.config/mailkeep/config.yaml). Try 'mailkeep demo' to see it work
against built-in servers.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			g.setupLog()
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", "", "configuration file")
	pf.BoolVar(&g.json, "json", false, "write results as JSON lines to standard output")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "print only errors and the summary")
	pf.CountVarP(&g.verbose, "verbose", "v", "more detail (-vv: protocol traces, credentials redacted)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.job, "job", "", "name of the job this command runs for (recorded in the archive's run history)")
	pf.MarkHidden("job")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err, hint: "run 'mailkeep " + c.Name() + " --help' for usage"}
	})
	for _, mk := range subcommands {
		root.AddCommand(mk(g))
	}
	return root
}

func (g *globals) setupLog() {
	level := slog.LevelWarn
	switch {
	case g.quiet:
		level = slog.LevelError
	case g.verbose == 1:
		level = slog.LevelInfo
	case g.verbose >= 2:
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		g.log = slog.New(slog.NewJSONHandler(g.stderr, opts))
	} else {
		g.log = slog.New(slog.NewTextHandler(g.stderr, opts))
	}
}

func oneLine(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ';'
		}
		out = append(out, r)
	}
	return string(out)
}
