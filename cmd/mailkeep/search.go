package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

func init() { subcommands = append(subcommands, newSearchCmd) }

const searchHelp = `Terms (all must match; -term must not):
  word, "a phrase", pre*     free text: headers and decoded text bodies
  from: to: cc: subject:     in that header (names and addresses)
  body:                      in the text body only
  folder:NAME                folder name (* wildcard: folder:Archive/*)
  account:NAME               account name
  after:DAY before:DAY       message date (Date: header, or when archived)
  larger:SIZE smaller:SIZE   raw size: 500K, 10M
  has:attachment             has a part that is not its text
  is:seen is:unseen is:flagged is:answered is:draft
  id:N                       one message, by the id search shows`

func newSearchCmd(g *globals) *cobra.Command {
	var o struct {
		account, archiveDir string
		limit               int
		includeDeleted      bool
	}
	cmd := &cobra.Command{
		Use:   "search QUERY...",
		Short: "Find archived messages (headers and decoded text)",
		Long: `Searches the archive's full-text index and lists the messages found, newest
first: id, date, account/folder, from, subject, size. The id is what
'mailkeep show', 'export --id' and 'restore --id' take. Mail mailkeep took
off the server (POP3 delete, cleanup) is searched like the rest; mail
deleted on the server only with --include-deleted.

` + searchHelp + `

An archive made before the index existed has it built once, with a
progress bar; backup and import keep it up to date from then on.
Exit status 1 when nothing matches.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			terms, err := archive.ParseSearch(strings.Join(args, " "))
			if err != nil {
				return &exitError{code: exitUsage, err: err, hint: "run 'mailkeep search --help' for the terms"}
			}
			if o.limit < 0 {
				return usageErr("--limit %d: want 0 (no limit) or more", o.limit)
			}
			dir, err := g.xferArchiveDir(o.archiveDir)
			if err != nil {
				return err
			}
			repo, err := g.openSearchable(cmd.Context(), dir)
			if err != nil {
				return err
			}
			defer repo.Close()
			if o.account != "" {
				if _, err := repo.LookupAccount(cmd.Context(), o.account); err != nil {
					return &exitError{code: exitUsage, err: err, hint: "'mailkeep ls' lists the archived accounts"}
				}
			}
			n, err := g.printHits(repo.SearchHits(cmd.Context(), archive.SearchQuery{Terms: terms, Account: o.account,
				IncludeDeleted: o.includeDeleted, Limit: o.limit}), o.limit == 0)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if n == 0 {
				return &exitError{code: exitFailed, err: errors.New("no archived message matches"),
					hint: "mail deleted on the server is searched with --include-deleted"}
			}
			if o.limit > 0 && n == o.limit && !g.json && !g.quiet {
				fmt.Fprintf(g.stderr, "mailkeep: the first %d; --limit 0 shows all\n", o.limit)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.account, "account", "", "search only this account")
	f.IntVar(&o.limit, "limit", 100, "show at most this many (0: all)")
	f.BoolVar(&o.includeDeleted, "include-deleted", false, "also mail deleted on the server")
	f.StringVar(&o.archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	return cmd
}

// openSearchable opens the archive read-only with its search index
// complete: messages stored before the index existed (or by a mailkeep
// without it) are indexed first, with a progress bar, under the write
// lock. When another mailkeep holds the lock, the search goes on over
// what is indexed, with a warning.
func (g *globals) openSearchable(ctx context.Context, dir string) (*archive.Repo, error) {
	env := g.env(g.xferConfig(), nil)
	repo, err := env.OpenArchiveReader(ctx, dir)
	if err != nil {
		return nil, err
	}
	// Without the index's mark, counting what it lacks means looking up
	// every message: a writer does that once, and leaves the mark.
	marked := repo.SearchMarked(ctx)
	missing := int64(-1)
	if marked {
		missing, err = repo.SearchUnindexed(ctx)
	}
	if err != nil || missing == 0 {
		if err != nil {
			repo.Close()
			return nil, &exitError{code: exitFailed, err: err}
		}
		return repo, nil
	}
	repo.Close()
	w, err := env.OpenArchiveWriter(ctx, dir, "mailkeep search (building the search index)")
	if err != nil && missing < 0 {
		// No writer now (another holds the lock, or the archive is
		// read-only): count as a reader.
		r, rerr := env.OpenArchiveReader(ctx, dir)
		if rerr != nil {
			return nil, rerr
		}
		if missing, rerr = r.SearchUnindexed(ctx); rerr != nil || missing == 0 {
			if rerr != nil {
				r.Close()
				return nil, &exitError{code: exitFailed, err: rerr}
			}
			return r, nil
		}
		r.Close()
	}
	var le *archive.LockedError
	switch {
	case errors.As(err, &le):
		fmt.Fprintf(g.stderr, "mailkeep: warning: the search index lacks %d messages and cannot be built now (%v); results may be incomplete\n",
			missing, termsafe.Error(err))
	case err != nil:
		return nil, err
	default:
		if missing < 0 {
			if missing, err = w.SearchUnindexed(ctx); err != nil { // and leaves the mark when it lacks nothing
				w.Close()
				return nil, &exitError{code: exitFailed, err: err}
			}
		}
		if missing > 0 && !g.quiet && !g.json {
			fmt.Fprintf(g.stderr, "mailkeep: building the search index (%d messages, once)\n", missing)
		}
		err = w.BuildSearchIndex(ctx, newUI(g, "indexed"))
		w.Close()
		if err != nil {
			return nil, &exitError{code: exitFailed, err: fmt.Errorf("search index: %w", err)}
		}
	}
	return env.OpenArchiveReader(ctx, dir)
}

// printHits prints the hits as they come and returns how many there were.
// Text is a table; with many rows (stream) it is aligned a block of
// searchBlock rows at a time, so that no more than those are held.
func (g *globals) printHits(hits iter.Seq2[*archive.SearchHit, error], stream bool) (int, error) {
	n := 0
	if g.json {
		for h, err := range hits {
			if err != nil {
				return n, err
			}
			n++
			out := map[string]any{"id": h.ID, "account": h.Account, "folder": h.Folder, "date": h.Date.Format(time.RFC3339),
				"from": h.From, "subject": h.Subject, "size": h.Size, "flags": h.Flags, "sha256": h.Hash.String()}
			if h.UIDL != "" {
				out["uidl"] = h.UIDL
			} else {
				out["uid"] = h.UID
			}
			if !h.GoneSince.IsZero() {
				out["gone_since"] = timeOrNil(h.GoneSince)
				out["gone_reason"] = h.GoneReason
				out["off_server"] = archive.OffServer(h.GoneReason)
			}
			writeJSON(g.stdout, out)
		}
		return n, nil
	}
	// On a terminal long fields are cut to fit; piped, they are whole.
	cut := func(s string, n int) string { return termsafe.String(s) }
	if f, ok := g.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cut = func(s string, n int) string { return trunc(termsafe.String(s), n) }
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	for h, err := range hits {
		if err != nil {
			return n, err
		}
		if n == 0 {
			fmt.Fprintln(tw, "ID\tDATE\tACCOUNT/FOLDER\tFROM\tSUBJECT\tSIZE")
		}
		n++
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Date.Local().Format("2006-01-02 15:04"),
			cut(h.Account+"/"+h.Folder, 30), cut(h.From, 30), cut(h.Subject, 50), humanBytes(h.Size))
		if stream && n%searchBlock == 0 {
			tw.Flush()
		}
	}
	return n, nil
}

// searchBlock is how many rows of an unlimited search are aligned together.
var searchBlock = 1000
