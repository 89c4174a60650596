package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/serve"
)

func init() { subcommands = append(subcommands, newServeCmd) }

func newServeCmd(g *globals) *cobra.Command {
	var account, listen string
	cmd := &cobra.Command{
		Use:   "serve [--account NAME] [--listen HOST:PORT]",
		Short: "A read-only IMAP server over the archive, for your mail client",
		Long: `Serves the archive over IMAP, read-only, so that Thunderbird, mutt or a
phone can browse and search it, mail taken off the server included. The
config's serve: block gives the address (default 127.0.0.1:1143), the
username and the password (password, password_env, password_file or
password_command); with tls_cert and tls_key every connection is TLS and
it may listen beyond this machine, without them it refuses to.

Folders are served as ACCOUNT/FOLDER, or with --account NAME that
account's folders at the top level (INBOX as INBOX). Messages come byte
for byte as archived, with their archived flags and INTERNALDATE; UIDs and
UIDVALIDITY stay the same across restarts and new backups, so a client's
cache stays good. SEARCH uses the archive's full-text index. APPEND,
STORE, EXPUNGE, COPY, MOVE, CREATE, DELETE and RENAME are refused with NO.
It runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			sc := cfg.Serve
			if sc == nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("%s has no serve: block", cfg.Path),
					hint: "add serve: {username: ..., password_env: ...} (see examples/serve.yaml)"}
			}
			if listen == "" {
				listen = sc.Listen
			}
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return usageErr("--listen %q: want host:port, e.g. %s", listen, config.DefaultServeListen)
			}
			if account == "" {
				account = sc.Account
			}
			var tc *tls.Config
			if sc.TLSCert != "" {
				cert, err := tls.LoadX509KeyPair(sc.TLSCert, sc.TLSKey)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("serve.tls_cert, serve.tls_key: %w", err)}
				}
				tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			} else if !config.Loopback(listen) {
				return &exitError{code: exitUsage, err: fmt.Errorf("%s is reachable from other machines and serve: has no tls_cert/tls_key", listen),
					hint: "listen on 127.0.0.1 (an SSH tunnel reaches it from elsewhere), or give serve: a tls_cert and tls_key"}
			}
			ctx := cmd.Context()
			password, err := sc.Secret(ctx)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			repo, err := g.openSearchable(ctx, cfg.Archive)
			if err != nil {
				return err
			}
			defer repo.Close()
			if account != "" {
				if _, err := repo.LookupAccount(ctx, account); err != nil {
					return &exitError{code: exitUsage, err: err, hint: "'mailkeep ls' lists the archived accounts"}
				}
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return &exitError{code: exitFailed, err: fmt.Errorf("serve: %w", err)}
			}
			srv := serve.New(&serve.Options{Repo: repo, Account: account, Username: sc.Username, Password: password, TLS: tc, Log: g.log})
			what := "every account as ACCOUNT/FOLDER"
			if account != "" {
				what = "account " + account
			}
			scheme := "imap"
			if tc != nil {
				scheme = "imaps"
			}
			if !g.quiet {
				fmt.Fprintf(g.stderr, "mailkeep: serving %s read-only at %s://%s (user %s); Ctrl-C stops\n", what, scheme, ln.Addr(), sc.Username)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, ln) }()
			select {
			case err = <-done:
			case <-ctx.Done():
				srv.Close()
				<-done
				return nil
			}
			if err != nil && !errors.Is(err, net.ErrClosed) {
				return &exitError{code: exitFailed, err: fmt.Errorf("serve: %w", err)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "serve only this account's folders, at the top level (INBOX as INBOX)")
	cmd.Flags().StringVar(&listen, "listen", "", "host:port to listen on (default: serve.listen, 127.0.0.1:1143)")
	return cmd
}
