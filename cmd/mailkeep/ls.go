package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

func init() { subcommands = append(subcommands, newLsCmd) }

func newLsCmd(g *globals) *cobra.Command {
	var archiveDir string
	var gone bool
	cmd := &cobra.Command{
		Use:   "ls [ACCOUNT [FOLDER]]",
		Short: "Show what the archive holds",
		Long: `Without arguments: every account with its folders, message counts and sizes.
With ACCOUNT: its folders (messages archived, of them those mailkeep took
off the server by POP3 delete or cleanup, messages deleted on the server,
raw size, stored compressed size). Mail taken off the server is archived
mail, counted and listed like mail still on it. With ACCOUNT FOLDER: its
messages (date, from, subject, size, flags; --gone adds those deleted on
the server).`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.xferArchiveDir(archiveDir)
			if err != nil {
				return err
			}
			repo, err := openArchiveRO(cmd.Context(), dir)
			if err != nil {
				return err
			}
			defer repo.Close()
			if len(args) == 2 {
				return g.lsMessages(cmd, repo, args[0], args[1], gone)
			}
			acct := ""
			if len(args) == 1 {
				acct = args[0]
				if err := ops.ArchiveAccount(cmd.Context(), repo, acct); err != nil {
					return err
				}
			}
			return g.lsFolders(cmd, repo, acct)
		},
	}
	cmd.Flags().StringVar(&archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	cmd.Flags().BoolVar(&gone, "gone", false, "also list messages deleted on the server")
	return cmd
}

func (g *globals) lsFolders(cmd *cobra.Command, repo *archive.Repo, acct string) error {
	stats, err := repo.Stats(cmd.Context(), acct)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	canon, err := canonicalNames(cmd.Context(), repo, stats)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if g.json {
		var tm, to, tg, ts, tst int64
		for _, s := range stats {
			tm, to, tg, ts, tst = tm+s.Messages, to+s.OffServer, tg+s.Gone, ts+s.Size, tst+s.Stored
			out := map[string]any{"type": "folder", "account": s.AccountName, "folder": s.Name, "name": canon[s.ID], "messages": s.Messages, "off_server": s.OffServer, "deleted": s.Gone, "gone": s.Gone,
				"bytes": s.Size, "stored_bytes": s.Stored, "special_use": s.SpecialUse, "uidvalidity": s.UIDValidity,
				"last_uid": s.LastUID, "last_seen": timeOrNil(s.LastSeen), "gone_since": timeOrNil(s.GoneSince)}
			writeJSON(g.stdout, out)
		}
		writeJSON(g.stdout, map[string]any{"type": "total", "account": acct, "folders": len(stats), "messages": tm,
			"off_server": to, "deleted": tg, "gone": tg, "bytes": ts, "stored_bytes": tst})
		return nil
	}
	// Numbers right-aligned, the name left-aligned and last: names of any
	// length never push the columns apart, and no line ends in spaces.
	rows := [][]string{{"MESSAGES", "OFF SERVER", "DELETED", "SIZE", "STORED", "ACCOUNT/FOLDER"}}
	var tm, to, tg, ts, tst int64
	for _, s := range stats {
		name := termsafe.String(s.AccountName + "/" + canon[s.ID])
		switch {
		case !s.GoneSince.IsZero():
			name += " (gone since " + s.GoneSince.Local().Format("2006-01-02") + ")"
		case s.SpecialUse != "":
			name += " " + termsafe.String(s.SpecialUse)
		}
		rows = append(rows, []string{fmt.Sprint(s.Messages), fmt.Sprint(s.OffServer), fmt.Sprint(s.Gone), humanBytes(s.Size), humanBytes(s.Stored), name})
		tm, to, tg, ts, tst = tm+s.Messages, to+s.OffServer, tg+s.Gone, ts+s.Size, tst+s.Stored
	}
	rows = append(rows, []string{fmt.Sprint(tm), fmt.Sprint(to), fmt.Sprint(tg), humanBytes(ts), humanBytes(tst), "total"})
	width := make([]int, len(rows[0])-1)
	for _, r := range rows {
		for i := range width {
			width[i] = max(width[i], len(r[i]))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i := range width {
			fmt.Fprintf(&b, "%*s  ", width[i], r[i])
		}
		b.WriteString(r[len(r)-1])
		fmt.Fprintln(g.stdout, strings.TrimRight(b.String(), " "))
	}
	return nil
}

// canonicalNames are the folders' names as patterns match them and export
// and migrate show them (namespace.Canonical: "INBOX.Sent" is "Sent" where
// the server's personal prefix is "INBOX."), by folder id.
func canonicalNames(ctx context.Context, repo *archive.Repo, stats []archive.FolderStats) (map[int64]string, error) {
	byAcct := map[string][]archive.FolderStats{}
	for _, s := range stats {
		byAcct[s.AccountName] = append(byAcct[s.AccountName], s)
	}
	out := map[int64]string{}
	for acct, fs := range byAcct {
		text, err := repo.Namespaces(ctx, acct)
		if err != nil {
			return nil, err
		}
		names := make([]string, len(fs))
		var delim rune
		for i, f := range fs {
			names[i] = f.Name
			if delim == 0 && f.Delimiter != "" {
				delim = []rune(f.Delimiter)[0]
			}
		}
		ns := namespace.Recorded(text, names, delim)
		for _, f := range fs {
			d := rune(0)
			if f.Delimiter != "" {
				d = []rune(f.Delimiter)[0]
			}
			out[f.ID] = ns.Canonical(f.Name, d)
		}
	}
	return out, nil
}

// serverFolder finds the archived folder a name given on the command line
// means: its name on the server, or its canonical name.
func serverFolder(ctx context.Context, repo *archive.Repo, acct, name string) (string, error) {
	stats, err := repo.Stats(ctx, acct)
	if err != nil {
		return "", err
	}
	canon, err := canonicalNames(ctx, repo, stats)
	if err != nil {
		return "", err
	}
	for _, s := range stats {
		if s.Name == name {
			return name, nil
		}
	}
	for _, s := range stats {
		if canon[s.ID] == namespace.Canonical(name, '/', "") {
			return s.Name, nil
		}
	}
	return name, nil
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (g *globals) lsMessages(cmd *cobra.Command, repo *archive.Repo, acct, folder string, gone bool) error {
	if err := ops.ArchiveAccount(cmd.Context(), repo, acct); err != nil {
		return err
	}
	folder, err := serverFolder(cmd.Context(), repo, acct, folder)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	// Printed as they come, a block of lsBlock rows aligned at a time (a
	// folder may hold a million messages), without trailing spaces.
	out := &trimLines{w: g.stdout}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if !g.json {
		fmt.Fprintln(tw, "UID\tDATE\tFROM\tSUBJECT\tSIZE\tFLAGS\tSERVER")
	}
	// Cut long senders and subjects only for a person at a terminal;
	// piped, every byte of them goes through.
	cut := func(s string, n int) string { return s }
	if g.stdoutTTY() {
		cut = trunc
	}
	n := 0
	for e, err := range repo.Messages(cmd.Context(), archive.Query{Account: acct, Folder: folder, IncludeGone: gone}) {
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		n++
		id := fmt.Sprint(e.UID)
		if e.UIDL != "" {
			id = e.UIDL
		}
		if g.json {
			writeJSON(g.stdout, map[string]any{"id": e.ID, "account": acct, "folder": folder, "uidvalidity": e.UIDValidity, "uid": e.UID,
				"uidl": e.UIDL, "sha256": e.Hash.String(), "date": e.InternalDate.Format(time.RFC3339), "from": e.Header.From,
				"subject": e.Header.Subject, "message_id": e.Header.MessageID, "size": e.Size, "flags": e.Flags,
				"gone_since": timeOrNil(e.GoneSince), "gone_reason": e.GoneReason})
			continue
		}
		goneCol := ""
		switch {
		case archive.OffServer(e.GoneReason):
			goneCol = "off server since " + e.GoneSince.Local().Format("2006-01-02") + " (" + e.GoneReason + ")"
		case !e.GoneSince.IsZero():
			goneCol = "deleted " + e.GoneSince.Local().Format("2006-01-02") + " (" + e.GoneReason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", termsafe.String(id), e.InternalDate.Format("2006-01-02 15:04"),
			termsafe.String(cut(e.Header.From, 30)), termsafe.String(cut(e.Header.Subject, 50)), humanBytes(e.Size),
			termsafe.String(strings.Join(e.Flags, " ")), termsafe.String(goneCol))
		if n%lsBlock == 0 {
			tw.Flush()
		}
	}
	if n == 0 && !g.json {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s/%s: no messages in the archive (see 'mailkeep ls %s' for folder names)", acct, folder, acct)}
	}
	return tw.Flush()
}

// lsBlock is how many rows of a folder's listing are aligned together.
var lsBlock = 1000

// trimLines writes what it is given line by line, each without its
// trailing spaces.
type trimLines struct {
	w    io.Writer
	line []byte
}

func (t *trimLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.line = append(t.line, p...)
			break
		}
		t.line = append(t.line, p[:i]...)
		p = p[i+1:]
		if _, err := fmt.Fprintf(t.w, "%s\n", bytes.TrimRight(t.line, " ")); err != nil {
			return 0, err
		}
		t.line = t.line[:0]
	}
	return n, nil
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
