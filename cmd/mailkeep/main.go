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
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
)

// Exit codes, a documented contract (README "Exit codes"); ops.Outcome's
// ExitCode is what maps an operation's result to one of them.
const (
	exitOK          = ops.ExitOK
	exitFailed      = ops.ExitFailed
	exitUsage       = ops.ExitUsage
	exitPartial     = ops.ExitPartial
	exitInterrupted = ops.ExitInterrupted
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

// done turns an operation's outcome into a command's result: nil when
// all is done, else its exit code, last error line and hint.
func done(o *ops.Outcome) error {
	code := o.ExitCode()
	if code == exitOK {
		return nil
	}
	return &exitError{code: code, err: o.Err, hint: o.Hint}
}

// exitOf is the one mapping from a command's error to the exit code and
// the lines that go with it. An *ops.Error that is a usage error gets 2,
// cobra's own errors (unknown command, bad flag) too; after a signal,
// everything but a usage error is "interrupted".
func exitOf(ctx context.Context, err error) *exitError {
	if err == nil {
		return &exitError{code: exitOK}
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{code: exitFailed, err: err}
		var oe *ops.Error
		if errors.As(err, &oe) {
			ee.hint = oe.Hint
			if oe.Usage {
				ee.code = exitUsage
			}
		} else {
			// cobra's own errors: unknown command, bad flag.
			ee.code, ee.hint = exitUsage, "run 'mailkeep --help' for usage"
		}
	}
	if ctx.Err() != nil && ee.code != exitUsage {
		// One line, whatever the command was doing (run prints it).
		ee = &exitError{code: exitInterrupted}
	}
	return ee
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
	job        string          // set by 'run' when it runs a command for a job
	ctx        context.Context // ends at SIGINT or SIGTERM
	stdout     io.Writer
	stderr     io.Writer
	log        *slog.Logger
}

// Memory policy, applied once per process (restic's one GC tweak in
// main), so one job cannot change the collector of a daemon's others:
// mailkeep streams messages and its live heap is small (~10 MB), but
// moving mail allocates every message it moves, and with Go's default
// GOGC=100 the collector ran after every few megabytes (a third of a
// migration's CPU). GOGC=400 lets the heap grow to five times the live
// data; the soft limit keeps it from growing past 24 MiB. The brief's
// 64 MB is the whole process: ~20 MB of it is the binary's own pages and
// ~8 MB SQLite's page caches (archive/repo.go), outside the Go heap. A
// limit of 40 MiB put a 50,000-message backup at 64 MB peak RSS (70
// before the smaller SQLite caches), 24 MiB at 48 MB. But a backup of
// normal-sized mail (the lab corpus, 20,000 messages, 655 MB) holds
// ~30 MB live while messages under 4 MiB are in flight: under a 24 MiB
// limit the collector ran without pause (18.0 s, 22.9 s CPU, 62.9 MB
// peak); 32 MiB: 8.2 s, 10.7 s CPU, 64.3 MB; 40 MiB: 7.1 s, 66.4 MB.
// It is a soft limit: a larger live heap only makes the collector work
// harder. restore and migrate run a reading and an appending pipeline in
// one process and get twice the limit (their budget is 100 MB): under
// 32 MiB a 20,000-message migrate took 41.5 s, under 64 MiB 22.4 s at
// 98 MB peak. GOGC and GOMEMLIMIT in the environment win.
const (
	gcPercent     = 400
	heapLimit     = 32 << 20
	xferHeapLimit = 64 << 20
)

// applyMemoryPolicy sets the collector once for the process, by the
// command that args name.
func applyMemoryPolicy(args []string) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(heapLimitFor(args))
	}
}

// heapLimitFor is the soft heap limit for the command args name.
func heapLimitFor(args []string) int64 {
	g := &globals{stdout: io.Discard, stderr: io.Discard, ctx: context.Background()}
	if c, _, err := newRoot(g).Find(args); err == nil && (c.Name() == "restore" || c.Name() == "migrate") {
		return xferHeapLimit
	}
	return heapLimit
}

func main() {
	applyMemoryPolicy(os.Args[1:])
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if path := os.Getenv("MAILKEEP_CPUPROFILE"); path != "" {
		// For developers measuring mailkeep (bench/): a pprof CPU profile.
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{stdout: stdout, stderr: stderr, ctx: ctx}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ee := exitOf(ctx, root.ExecuteContext(ctx))
	if ee.code == exitUsage && ee.hint == "run 'mailkeep --help' for usage" {
		// cobra's own argument errors: point at the command's own help.
		if c, _, err := root.Find(args); err == nil && c != root {
			ee.hint = "run '" + c.CommandPath() + " --help' for usage"
		}
	}
	if ee.code == exitInterrupted {
		g.interruptedf("the archive is consistent and the next run resumes")
		return ee.code
	}
	if g.json && ee.err != nil {
		g.jsonError("error", ee.err, ee.hint)
	}
	if ee.err != nil {
		// One line a problem (a config with five problems gives five).
		for _, line := range strings.Split(strings.TrimSpace(ee.err.Error()), "\n") {
			g.errorf("%s", line)
		}
	}
	if ee.hint != "" {
		g.hintf("%s", ee.hint)
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
		return &exitError{code: exitUsage, err: err, hint: "run '" + c.CommandPath() + " --help' for usage"}
	})
	root.Version = versionLine()
	root.SetVersionTemplate("{{.Version}}\n")
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
