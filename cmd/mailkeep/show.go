package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/mailtext"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

func init() { subcommands = append(subcommands, newShowCmd) }

func newShowCmd(g *globals) *cobra.Command {
	var o struct {
		archiveDir, out string
		raw             bool
		part            int
	}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Print one archived message (ID as 'mailkeep search' shows it)",
		Long: `Prints the message's place (account/folder), its From, To, Cc, Date and
Subject (decoded), its text body (the plain text part, or the HTML part
stripped to text) and the list of its parts.

  --raw               the exact archived bytes, nothing else
  --part N --out FILE saves part N (numbered as the list shows), decoded
                      from base64 or quoted-printable; --out - writes it to
                      standard output`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageErr("ID %q: want the number 'mailkeep search' shows", args[0])
			}
			if o.part != 0 && o.out == "" {
				return usageErr("--part N needs --out FILE (or --out - for standard output)")
			}
			if o.out != "" && o.part == 0 {
				return usageErr("--out goes with --part N")
			}
			if o.raw && o.part != 0 {
				return usageErr("--raw and --part do not go together")
			}
			dir, err := g.xferArchiveDir(o.archiveDir)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			repo, err := g.env(g.xferConfig(), nil).OpenArchiveReader(ctx, dir)
			if err != nil {
				return err
			}
			defer repo.Close()
			e, err := repo.Place(ctx, id)
			if errors.Is(err, archive.ErrNotFound) {
				return &exitError{code: exitFailed, err: err, hint: "'mailkeep search' gives the ids"}
			}
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			where := fmt.Sprintf("message %d (%s/%s)", id, e.Account, e.FolderName)
			if o.raw {
				rc, _, err := repo.OpenMessage(ctx, e.Hash)
				if err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("%s: %w", where, err)}
				}
				defer rc.Close()
				if _, err := io.Copy(g.stdout, rc); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("%s: %w", where, err)}
				}
				return nil
			}
			raw, err := repo.ReadMessage(ctx, e.Hash)
			if err != nil {
				return &exitError{code: exitFailed, err: fmt.Errorf("%s: %w", where, err)}
			}
			if o.part != 0 {
				return g.savePart(raw, o.part, o.out, where)
			}
			g.printMessage(e, mailtext.Read(raw))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.raw, "raw", false, "print the exact archived bytes")
	f.IntVar(&o.part, "part", 0, "save part N (see the part list) with --out")
	f.StringVarP(&o.out, "out", "o", "", "file to save the part into (- for standard output)")
	f.StringVar(&o.archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	return cmd
}

func (g *globals) printMessage(e *archive.Entry, m mailtext.Readable) {
	if g.json {
		hdr := map[string]string{}
		for _, h := range m.Headers {
			hdr[strings.ToLower(h.Name)] = h.Value
		}
		var parts []map[string]any
		for _, p := range m.Parts {
			parts = append(parts, map[string]any{"part": p.Number, "type": p.Type, "filename": p.Filename, "size": p.Size, "attachment": p.Attachment})
		}
		writeJSON(g.stdout, map[string]any{"id": e.ID, "account": e.Account, "folder": e.FolderName, "date": e.InternalDate.Format(time.RFC3339),
			"flags": e.Flags, "size": e.Size, "sha256": e.Hash.String(), "headers": hdr, "body": m.Body, "parts": parts})
		return
	}
	w := bufio.NewWriter(g.stdout)
	defer w.Flush()
	fmt.Fprintf(w, "Archived: %s/%s", termsafe.String(e.Account), termsafe.String(e.FolderName))
	if len(e.Flags) > 0 {
		fmt.Fprintf(w, " (%s)", termsafe.String(strings.Join(e.Flags, " ")))
	}
	if archive.OffServer(e.GoneReason) {
		fmt.Fprintf(w, ", off the server since %s", e.GoneSince.Local().Format("2006-01-02"))
	} else if !e.GoneSince.IsZero() {
		fmt.Fprintf(w, ", deleted on the server %s", e.GoneSince.Local().Format("2006-01-02"))
	}
	fmt.Fprintln(w)
	for _, h := range m.Headers {
		fmt.Fprintf(w, "%s: %s\n", h.Name, termsafe.String(h.Value))
	}
	fmt.Fprintln(w)
	for _, line := range strings.Split(strings.TrimRight(m.Body, "\r\n"), "\n") {
		line = strings.ReplaceAll(strings.TrimRight(line, "\r"), "\t", "    ")
		fmt.Fprintln(w, termsafe.String(line))
	}
	if len(m.Parts) > 1 || (len(m.Parts) == 1 && m.Parts[0].Attachment) {
		fmt.Fprintln(w, "\nParts (save one with --part N --out FILE):")
		for _, p := range m.Parts {
			name := p.Filename
			if name == "" {
				name = "-"
			}
			fmt.Fprintf(w, "  %d  %-24s %-10s %s\n", p.Number, termsafe.String(p.Type), humanBytes(p.Size), termsafe.String(name))
		}
	}
}

// savePart writes part n of raw to out (a new file, or - for stdout).
func (g *globals) savePart(raw []byte, n int, out, where string) error {
	body, p, err := mailtext.PartBody(raw, n)
	if errors.Is(err, mailtext.ErrNoPart) {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: %w", where, err), hint: "'mailkeep show ID' lists the parts"}
	}
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: %w", where, err)}
	}
	if out == "-" {
		_, err := g.stdout.Write(body)
		return err
	}
	if _, err := os.Lstat(out); err == nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s exists; not overwritten", out)}
	}
	// Under a temporary name until complete, like every file mailkeep writes.
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return &exitError{code: exitFailed, err: fmt.Errorf("write %s: %w", out, err)}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return &exitError{code: exitFailed, err: fmt.Errorf("write %s: %w", out, err)}
	}
	if err := tmp.Close(); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if err := os.Link(tmp.Name(), out); err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("save %s: %w", out, err)}
	}
	if !g.quiet {
		fmt.Fprintf(g.stderr, "saved part %d (%s, %s) of %s to %s\n", n, p.Type, humanBytes(int64(len(body))), where, out)
	}
	return nil
}
