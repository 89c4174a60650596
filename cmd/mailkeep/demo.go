package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/pop3srv"
	"github.com/mailkeep/mailkeep/internal/sample"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd(g *globals) *cobra.Command {
	var dir string
	var keep bool
	var count int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run mailkeep against built-in servers with sample mail",
		Long: `Starts an IMAP and a POP3 server inside this process on 127.0.0.1, fills
them with sample mail (awkward messages included: empty, bare LF, NUL bytes,
raw 8-bit headers, 5000-byte lines, a message starting with "From "), writes
a config file, and runs the real commands against them: backup, ls, an
incremental backup after changes on the server, verify, a byte-for-byte
check of the archive against the server, restore into a second IMAP account
(checked byte for byte too) and an export to Maildir. Needs no config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.demo(cmd.Context(), dir, keep, count)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "work in this directory (default: a temporary one, removed afterwards)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory")
	cmd.Flags().IntVar(&count, "messages", 300, "how many ordinary sample messages to generate")
	return cmd
}

func (g *globals) demo(ctx context.Context, dir string, keep bool, count int) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "mailkeep-demo-")
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		dir = d
		if !keep {
			defer os.RemoveAll(dir)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	say := func(format string, args ...any) { fmt.Fprintf(g.stdout, "\n== "+format+"\n", args...) }

	srv := imapsrv.New(nil)
	if err := srv.Start(); err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("start demo IMAP server: %w", err)}
	}
	defer srv.Close()
	const user, pass = "alice", "demo-password"
	srv.AddUser(user, pass)
	for _, f := range sample.Folders {
		var su []imap.MailboxAttr
		if f.SpecialUse != "" {
			su = append(su, imap.MailboxAttr(f.SpecialUse))
		}
		if f.Name != "INBOX" {
			srv.AddMailbox(user, f.Name, su...)
		}
	}
	msgs := sample.Generate(count, 1)
	for i, m := range sample.Awkward() {
		m.Folder = "INBOX"
		m.Date = time.Date(2020, 2, 1+i, 12, 0, 0, 0, time.FixedZone("", 2*3600))
		msgs = append(msgs, m)
	}
	var total int64
	for _, m := range msgs {
		srv.AddMessage(user, m.Folder, m.Raw, m.Flags, m.Date)
		total += int64(len(m.Raw))
	}
	say("Demo IMAP server on %s: user %s, %d messages (%s) in %d folders, %d of them awkward",
		srv.Addr(), user, len(msgs), humanBytes(total), len(sample.Folders), len(sample.Awkward()))
	// An empty second account on the same server to restore into.
	const target = "bob"
	srv.AddUser(target, pass)

	pop, err := pop3srv.Start(nil)
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("start demo POP3 server: %w", err)}
	}
	defer pop.Close()
	pop.AddUser("carol", pass)
	popMsgs := sample.Generate(40, 2)
	for i, m := range popMsgs {
		pop.AddMessage("carol", fmt.Sprintf("uidl-%04d", i), m.Raw)
	}
	say("Demo POP3 server on %s: user carol, %d messages", pop.Addr(), len(popMsgs))

	cfgPath := filepath.Join(dir, "mailkeep.yaml")
	cfgText := fmt.Sprintf(`# written by 'mailkeep demo'
archive: %s
accounts:
  demo:
    imap: {host: 127.0.0.1, port: %s, security: none}
    username: %s
    password_env: MAILKEEP_DEMO_PASSWORD
  isp:
    pop3: {host: 127.0.0.1, port: %s, security: none}
    username: carol
    password_env: MAILKEEP_DEMO_PASSWORD
  newhost:
    imap: {host: 127.0.0.1, port: %s, security: none}
    username: %s
    password_env: MAILKEEP_DEMO_PASSWORD
`, filepath.Join(dir, "archive"), portOf(srv.Addr()), user, portOf(pop.Addr()), portOf(srv.Addr()), target)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	os.Setenv("MAILKEEP_DEMO_PASSWORD", pass)
	fmt.Fprintf(g.stdout, "config: %s\n%s", cfgPath, cfgText)

	sub := func(args ...string) error {
		fmt.Fprintf(g.stdout, "\n$ mailkeep --config %s %s\n", cfgPath, joinArgs(args))
		g2 := &globals{stdout: g.stdout, stderr: g.stderr, json: g.json, quiet: g.quiet, verbose: g.verbose}
		root := newRoot(g2)
		root.SetArgs(append([]string{"--config", cfgPath}, args...))
		root.SetOut(g.stdout)
		root.SetErr(g.stderr)
		return root.ExecuteContext(ctx)
	}

	say("1. First backup: everything is fetched, hashed, compressed and indexed")
	if err := sub("backup", "demo", "isp"); err != nil {
		return err
	}
	say("2. What the archive holds")
	if err := sub("ls"); err != nil {
		return err
	}

	say("3. Changes on the server: 3 new messages, a flag change, an expunge")
	for _, m := range sample.Generate(3, 99) {
		srv.AddMessage(user, "INBOX", m.Raw, nil, m.Date)
	}
	inbox := srv.Messages(user, "INBOX")
	srv.SetFlags(user, "INBOX", inbox[0].UID, []string{`\Seen`, `\Answered`, "$Important"})
	srv.Expunge(user, "INBOX", inbox[1].UID)
	say("4. Incremental backup: only the new mail is fetched; the expunged message stays archived, marked gone")
	if err := sub("backup", "demo", "isp"); err != nil {
		return err
	}
	say("5. Verify: every stored message is read back and its SHA-256 checked")
	if err := sub("verify"); err != nil {
		return err
	}

	say("6. Byte-exact check: archive against the server, message by message")
	if err := demoCompare(ctx, g, filepath.Join(dir, "archive"), srv, user); err != nil {
		return &exitError{code: exitFailed, err: err}
	}

	say("7. Restore the archived account into another (empty) IMAP account")
	if err := sub("restore", "demo", "--to", "newhost"); err != nil {
		return err
	}
	if err := demoCompareServers(g, srv, user, target); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	say("8. Export it as a Maildir any mail program reads")
	if err := sub("export", "demo", "--format", "maildir", "--out", filepath.Join(dir, "export")); err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(g.stdout, "\nkept %s (config, archive); try: mailkeep --config %s ls demo\n", dir, cfgPath)
	}
	return nil
}

// demoCompareServers checks that every message of user's folders is in
// target's folder of the same name, with the same bytes, flags and date.
func demoCompareServers(g *globals, srv *imapsrv.Server, user, target string) error {
	n, bad := 0, 0
	for _, mb := range srv.Mailboxes(user) {
		want := map[archive.Hash][]string{}
		for _, m := range srv.Messages(user, mb.Name) {
			h := archive.HashBytes(m.Raw)
			want[h] = append(want[h], archive.JoinFlags(m.Flags)+"|"+m.Date.Format(archive.DateLayout))
		}
		got := map[archive.Hash][]string{}
		for _, m := range srv.Messages(target, mb.Name) {
			h := archive.HashBytes(m.Raw)
			got[h] = append(got[h], archive.JoinFlags(m.Flags)+"|"+m.Date.Format(archive.DateLayout))
		}
		for h, w := range want {
			n += len(w)
			if len(got[h]) != len(w) {
				bad++
				fmt.Fprintf(g.stdout, "RESTORE %s: message %s: %d copies on the target, %d on the source\n", mb.Name, h.String()[:12], len(got[h]), len(w))
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d messages differ between the source and the restored account", bad)
	}
	fmt.Fprintf(g.stdout, "all %d messages are in the restored account, byte for byte, with their flags and dates\n", n)
	return nil
}

// demoCompare checks that every message on the demo server is in the
// archive with the same bytes, flags and date.
func demoCompare(ctx context.Context, g *globals, dir string, srv *imapsrv.Server, user string) error {
	repo, err := archive.Open(ctx, dir, nil)
	if err != nil {
		return err
	}
	defer repo.Close()
	n, bad := 0, 0
	for _, mb := range srv.Mailboxes(user) {
		stored := map[uint32]*archive.Entry{}
		for e, err := range repo.Messages(ctx, archive.Query{Account: "demo", Folder: mb.Name}) {
			if err != nil {
				return err
			}
			stored[e.UID] = e
		}
		for _, m := range srv.Messages(user, mb.Name) {
			n++
			e := stored[m.UID]
			if e == nil {
				bad++
				fmt.Fprintf(g.stdout, "MISSING %s uid %d\n", mb.Name, m.UID)
				continue
			}
			raw, err := repo.ReadMessage(ctx, e.Hash)
			if err != nil || !bytes.Equal(raw, m.Raw) {
				bad++
				fmt.Fprintf(g.stdout, "DIFFERENT %s uid %d: %v\n", mb.Name, m.UID, err)
			}
			if archive.JoinFlags(e.Flags) != archive.JoinFlags(m.Flags) || !e.InternalDate.Equal(m.Date) {
				bad++
				fmt.Fprintf(g.stdout, "METADATA %s uid %d: flags %v/%v date %v/%v\n", mb.Name, m.UID, e.Flags, m.Flags, e.InternalDate, m.Date)
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d messages differ between server and archive", bad, n)
	}
	fmt.Fprintf(g.stdout, "all %d messages on the server are in the archive, byte for byte, with their flags and dates\n", n)
	return nil
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

func joinArgs(a []string) string {
	var b bytes.Buffer
	for i, s := range a {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}
