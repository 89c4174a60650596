package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

// jobResult is one run of one job.
type jobResult struct {
	Job       string           `json:"job"`
	Kind      string           `json:"kind"`
	Status    string           `json:"status"` // ok, partial, failed, config, interrupted, skipped
	Code      int              `json:"exit_code"`
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Command   []string         `json:"command,omitempty"` // the same by hand: mailkeep's arguments (names and options only, never secrets)
	Error     string           `json:"error,omitempty"`
	Hint      string           `json:"hint,omitempty"`
	Accounts  []accountSummary `json:"accounts,omitempty"` // the operation's per-account outcomes
	Skipped   []skippedAccount `json:"skipped,omitempty"`
	Shard     string           `json:"shard,omitempty"`
	Elsewhere int              `json:"other_shards,omitempty"` // accounts of the job left to other shards
}

type skippedAccount struct {
	Account string `json:"account"`
	Reason  string `json:"reason"`
}

// accountSummary is one account of a job's result: its state, its counts
// and why it is not done.
type accountSummary struct {
	Account string           `json:"account"`
	Target  string           `json:"target,omitempty"` // migrate: the account copied into
	Status  string           `json:"status"`           // ok, partial, failed
	OK      bool             `json:"ok"`
	Counts  map[string]int64 `json:"counts"`
	Bytes   int64            `json:"bytes"`
	Error   string           `json:"error,omitempty"`
	Note    string           `json:"note,omitempty"`
	order   []ops.Count      // Counts as the operation lists them
}

func summaries(o *ops.Outcome) []accountSummary {
	var out []accountSummary
	for _, a := range o.Accounts {
		s := accountSummary{Account: a.Name, Target: a.Target, Status: a.State.String(), OK: a.State == ops.OK,
			Counts: map[string]int64{}, Bytes: a.Bytes, Note: a.Note, order: a.Counts}
		for _, c := range a.Counts {
			s.Counts[c.Name] = c.N
		}
		if a.Err != nil {
			s.Error = ops.Describe(a.Name, a.Err)
			s.Error = strings.TrimPrefix(s.Error, a.Name+": ")
		}
		out = append(out, s)
	}
	return out
}

// line sums one account up: "alice: ok (new 5, 12.0 KiB)",
// "alice -> carol: ok (copied 1500, adopted 0, 8.4 MiB)".
func (s accountSummary) line() string {
	name := s.Account
	if s.Target != "" {
		name += " -> " + s.Target
	}
	state := "ok"
	switch s.Status {
	case "partial":
		state = "PARTLY DONE"
	case "failed":
		state = "FAILED"
	}
	if s.Error != "" && !s.OK {
		state += ": " + s.Error
	}
	if s.Note != "" {
		state += ", " + s.Note
	}
	var parts []string
	for _, c := range s.order {
		parts = append(parts, fmt.Sprintf("%s %d", c.Name, c.N))
	}
	if s.Bytes != 0 {
		parts = append(parts, humanBytes(s.Bytes))
	}
	if len(parts) == 0 {
		return name + ": " + state
	}
	return name + ": " + state + " (" + strings.Join(parts, ", ") + ")"
}

// attrs are the account's log attributes: account first, then its
// counts in order.
func (s accountSummary) attrs() []any {
	attrs := []any{"account", s.Account}
	if s.Target != "" {
		attrs = append(attrs, "target", s.Target)
	}
	attrs = append(attrs, "status", s.Status)
	for _, c := range s.order {
		attrs = append(attrs, c.Name, c.N)
	}
	attrs = append(attrs, "bytes", s.Bytes)
	if s.Error != "" {
		attrs = append(attrs, "error", s.Error)
	}
	return attrs
}

func statusOf(code int) string {
	switch code {
	case exitOK:
		return "ok"
	case exitPartial:
		return "partial"
	case exitUsage:
		return "config"
	case exitInterrupted:
		return "interrupted"
	}
	return "failed"
}

// summaryText is the run's summary for on_failure's standard input.
func (res *jobResult) summaryText(host string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mailkeep job %s (%s) on %s: %s, exit code %d\n", res.Job, res.Kind, host, res.Status, res.Code)
	fmt.Fprintf(&b, "started %s, took %s\n", res.Started.Format(time.RFC3339), res.Finished.Sub(res.Started).Round(time.Second))
	if len(res.Command) > 0 {
		fmt.Fprintf(&b, "command: mailkeep %s\n", strings.Join(res.Command, " "))
	}
	if res.Shard != "" {
		fmt.Fprintf(&b, "shard: %s\n", res.Shard)
	}
	if res.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", safeLine(res.Error))
	}
	if res.Hint != "" {
		fmt.Fprintf(&b, "hint: %s\n", safeLine(res.Hint))
	}
	for _, s := range res.Accounts {
		fmt.Fprintf(&b, "%s\n", safeLine(s.line()))
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(&b, "%s: skipped: %s\n", termsafe.String(s.Account), safeLine(s.Reason))
	}
	return b.String()
}

// onFailure runs the job's on_failure command with the summary on its
// standard input. Its own failure is logged, never fatal.
func (r *runner) onFailure(ctx context.Context, cfg *config.Config, job *config.Job, res *jobResult) {
	if job.OnFailure == "" {
		return
	}
	host, _ := os.Hostname()
	var in []byte
	if r.g.json {
		in, _ = json.Marshal(res)
		in = append(in, '\n')
	} else {
		in = []byte(res.summaryText(host))
	}
	// Its own time limit, and it runs even while the daemon shuts down.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	c := exec.CommandContext(cctx, "sh", "-c", job.OnFailure)
	c.Dir = filepath.Dir(cfg.Path)
	c.Stdin = bytes.NewReader(in)
	c.Env = append(os.Environ(), "MAILKEEP_JOB="+job.Name, "MAILKEEP_KIND="+res.Kind,
		"MAILKEEP_STATUS="+res.Status, "MAILKEEP_EXIT_CODE="+strconv.Itoa(res.Code))
	var outb limitedBuffer
	c.Stdout, c.Stderr = &outb, &outb
	log := r.log.With("job", job.Name)
	// The command itself is not logged: it may hold a webhook's token.
	if err := c.Run(); err != nil {
		log.Error("on_failure command failed", "error", err, "output", strings.TrimSpace(outb.String()))
		return
	}
	log.Info("on_failure command ran", "output", strings.TrimSpace(outb.String()))
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ io.Writer = (*limitedBuffer)(nil)
