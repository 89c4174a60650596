package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/offsite"
)

func init() { subcommands = append(subcommands, newRepairCmd) }

func newRepairCmd(g *globals) *cobra.Command {
	var archiveDir string
	var encrypt, upgrade bool
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Rebuild the archive's index from its data files after damage",
		Long: `Rebuilds what can be rebuilt of a damaged archive, and deletes nothing:

- an index.db that SQLite cannot read, or that fails its integrity check,
  is moved aside (index.db.damaged-TIME) and made anew; every row that can
  still be read from it is copied over;
- every data file is read through: each whole, intact message is indexed
  (the frame before each message holds its SHA-256);
- a stored message whose bytes are lost (a truncated data file, a bad
  sector) no longer counts as archived: the next backup fetches it again
  from every server that still has it;
- messages that no folder refers to any more (their places were in a lost
  index) are put into the account lost+found, folder recovered, for ls,
  export and restore;
- the unfinished end of an interrupted write is kept in lost+found/.

Backups refuse to write into an archive whose data files the index does
not explain, and say so; run repair, then backup.

With --encrypt it does something else: the messages stored before
encryption was turned on are rewritten encrypted (to encryption.recipients)
and the data files that held them are removed; the next push removes their
off-site copies. Interrupted, it goes on from where it stopped.

With --upgrade it only brings an archive of format version 1 to version 2
(which the first backup or other writer does anyway), and repairs nothing:
one line says what it did, or that the archive is version 2 already.
Killed while it runs, the archive is left version 1 or version 2, both
valid; run it again. Exit status 1 if the
repair could not finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if encrypt && upgrade {
				return &exitError{code: exitUsage, err: errors.New("repair: --encrypt and --upgrade are separate runs: give one")}
			}
			if encrypt {
				return g.repairEncrypt(cmd.Context(), archiveDir) // repair_encrypt.go
			}
			if upgrade {
				return g.repairUpgrade(cmd.Context(), archiveDir) // repair_upgrade.go
			}
			dir, err := g.xferArchiveDir(archiveDir)
			if err != nil {
				return err
			}
			// With encryption, the identity lets repair check (and index
			// again) encrypted messages too.
			var sealer archive.Sealer
			if cfg, err := g.loadConfig(); err == nil && cfg.Encryption != nil {
				k, err := offsite.LoadKeys(cfg.Encryption)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				sealer = archive.AgeSealer(k.Recipients, k.Identities, k.Why())
			}
			start := time.Now()
			res, err := archive.Repair(cmd.Context(), dir, &archive.Options{LockWait: 2 * time.Second, Sealer: sealer})
			if res != nil {
				g.printRepair(dir, res, time.Since(start))
			}
			if err != nil {
				ee := &exitError{code: exitFailed, err: fmt.Errorf("repair %s: %w", dir, err)}
				var le *archive.LockedError
				if errors.As(err, &le) {
					ee.hint = "another mailkeep is writing this archive; wait for it to finish"
				}
				return ee
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&archiveDir, "archive", "", "archive directory (default: archive: from the config)")
	cmd.Flags().BoolVar(&upgrade, "upgrade", false, "instead: only upgrade an archive of format version 1 to version 2 (the first backup does it too)")
	cmd.Flags().BoolVar(&encrypt, "encrypt", false, "instead: rewrite the messages stored before encryption was turned on, encrypted, and remove the data files that held them (needs encryption: in the config)")
	return cmd
}

func (g *globals) printRepair(dir string, res *archive.RepairResult, took time.Duration) {
	if g.json {
		writeJSON(g.stdout, map[string]any{"event": "repaired", "archive": dir, "index_moved_to": res.IndexMovedTo,
			"index_problem": res.IndexProblem, "salvaged": res.Salvaged, "unsalvaged": res.Unsalvaged, "scanned": res.Scanned,
			"indexed": res.Indexed, "repointed": res.Repointed, "missing": res.Missing, "recovered": res.Recovered,
			"damage": res.Damage, "kept_aside": res.KeptAside, "unchecked": res.Unchecked, "seconds": took.Seconds()})
		return
	}
	if res.IndexMovedTo != "" {
		g.warningf("index.db was damaged (%s); moved to %s and rebuilt", res.IndexProblem, res.IndexMovedTo)
		for _, t := range []string{"accounts", "folders", "messages", "runs", "ledger", "pending_deletes"} {
			if n, ok := res.Salvaged[t]; ok {
				fmt.Fprintf(g.stdout, "salvaged %d rows of %s from the damaged index\n", n, t)
			}
		}
		for _, u := range res.Unsalvaged {
			g.warningf("could not salvage from the damaged index: %s", u)
		}
	}
	for _, d := range res.Damage {
		g.warningf("damaged: %s", d)
	}
	for _, k := range res.KeptAside {
		g.warningf("kept aside: %s", k)
	}
	for _, m := range res.Missing {
		g.warningf("missing: %s: the next backup fetches it again if the server still has it", m)
	}
	fmt.Fprintf(g.stdout, "repaired %s in %.1fs: %d intact messages in the data files, %d indexed again, %d moved to an intact copy, %d missing",
		dir, took.Seconds(), res.Scanned, res.Indexed, res.Repointed, len(res.Missing))
	if res.Unchecked > 0 {
		g.warningf("%d encrypted messages could not be checked without the identity (encryption.identity_file); those the index did not list are not indexed", res.Unchecked)
	}
	if res.Recovered > 0 {
		fmt.Fprintf(g.stdout, ", %d that no folder held now in %s/%s", res.Recovered, archive.RecoveredAccount, archive.RecoveredFolder)
	}
	fmt.Fprintln(g.stdout)
}
