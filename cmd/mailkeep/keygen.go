package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newKeygenCmd) }

func newKeygenCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make an age identity for encryption: and print its recipient",
		Long: `Writes a new age identity (secret key) to FILE, readable only by you (0600),
and prints its recipient (public key, age1...) on standard output. Put the
recipient under encryption.recipients and FILE under encryption.identity_file.
The file is in age-keygen's format: age and rage read it too.

Losing FILE loses every message encrypted to it: keep copies somewhere other
than the archive and its off-site copy (a password manager, paper, a USB key
in a drawer).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErr("keygen needs --out FILE")
			}
			id, err := age.GenerateX25519Identity()
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if dir := filepath.Dir(out); dir != "" {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return &exitError{code: exitFailed, err: err}
				}
			}
			// O_EXCL: an existing identity is never overwritten.
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, os.ErrExist) {
				return &exitError{code: exitFailed, err: fmt.Errorf("%s exists; keygen never overwrites an identity", out),
					hint: "choose another --out, or remove the old file if nothing was ever encrypted to it"}
			}
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			_, err = fmt.Fprintf(f, "# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return &exitError{code: exitFailed, err: fmt.Errorf("write %s: %w", out, err)}
			}
			if g.json {
				writeJSON(g.stdout, map[string]any{"event": "keygen", "identity_file": out, "recipient": id.Recipient().String()})
			} else {
				fmt.Fprintln(g.stdout, id.Recipient())
			}
			g.warningf("%s is the only way to read what is encrypted to %s: keep a copy away from the archive", out, id.Recipient())
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the identity into (must not exist)")
	return cmd
}
