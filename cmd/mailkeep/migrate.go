package main

import (
	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
)

func init() { subcommands = append(subcommands, newMigrateCmd) }

func newMigrateCmd(g *globals) *cobra.Command {
	var x xferFlags
	cmd := &cobra.Command{
		Use:   "migrate FROM TO",
		Short: "Copy a live IMAP or POP3 account into an IMAP account",
		Long: `Copies everything in account FROM (IMAP or POP3) into the IMAP account TO:
folders, flags, dates. FROM is backed up into the archive while what is
already archived is being appended to TO, so both servers work at once;
the archive is the journal that makes the copy resumable.

Run it as often as you like, before and after the switch-over: each run
copies only what is new and carries over flags changed on FROM since the
last run. Nothing is ever copied twice, also after an interruption or a
crash, and nothing is deleted on either side (messages deleted on FROM
stay on TO). Folder mapping, adoption of mail already on TO and the final
table are as for 'mailkeep restore'. The exit status is 0 only when every
message of FROM is on TO.

--folder/--exclude choose FROM's folders (the migrate job's folders: in a
configuration file); TO's folder_map renames them.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := x.check(); err != nil {
				return err
			}
			if args[0] == args[1] {
				return usageErr("FROM and TO are the same account")
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			o := ops.Migrate(cmd.Context(), g.env(cfg, newUI(g, "archived")), ops.MigrateOptions{From: args[0], To: args[1],
				Folders: x.filter(), DryRun: x.dryRun, RepairLineEndings: x.repair})
			if o.Xfer != nil {
				g.printReconciliation("migrate", o.Xfer)
			}
			return done(o)
		},
	}
	x.add(cmd)
	return cmd
}
