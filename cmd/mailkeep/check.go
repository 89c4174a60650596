package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/emersion/go-imap/v2"
	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/cmd/mailkeep/internal/ops"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/termsafe"
)

func init() { subcommands = append(subcommands, newCheckCmd) }

func newCheckCmd(g *globals) *cobra.Command {
	var showCert bool
	cmd := &cobra.Command{
		Use:   "check [ACCOUNT...]",
		Short: "Log in to each account and report what it sees; changes nothing",
		Long: `Connects to each account (all by default), logs in, lists its folders with
message counts and the server's relevant capabilities. Nothing is changed
on the server or in the archive: folders are examined read-only.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			accts, err := pickAccounts(cfg, args)
			if err != nil {
				return err
			}
			if showCert {
				o := &ops.Outcome{Op: "check"}
				for _, a := range accts {
					oa := &ops.Account{Name: a.Name}
					if oa.Err = g.showCert(cmd.Context(), a); oa.Err != nil {
						oa.State = ops.Failed
						g.errorf("%s", oa.Err)
					}
					o.Accounts = append(o.Accounts, oa)
				}
				return done(o)
			}
			reports := make([]checkReport, len(accts))
			var wg sync.WaitGroup
			for i, a := range accts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					reports[i] = g.checkAccount(cmd.Context(), a)
				}()
			}
			wg.Wait()
			o := &ops.Outcome{Op: "check", Interrupted: cmd.Context().Err() != nil}
			for _, r := range reports {
				g.printCheck(r)
				a := &ops.Account{Name: r.account, Err: r.err}
				if r.err != nil {
					a.State = ops.Failed
				}
				o.Accounts = append(o.Accounts, a)
			}
			return done(o)
		},
	}
	cmd.Flags().BoolVar(&showCert, "show-cert", false, "print each server's certificate chain and SHA-256 fingerprints (for ca_file or tls_fingerprint); logs in to nothing")
	return cmd
}

type checkFolder struct {
	name       string
	messages   uint32
	specialUse string
}

type checkReport struct {
	account  string
	protocol string
	addr     string
	caps     []string
	folders  []checkFolder
	notes    []string
	err      error
}

func (g *globals) checkAccount(ctx context.Context, a *config.Account) checkReport {
	r := checkReport{account: a.Name, protocol: a.Protocol(), addr: a.Server().Addr()}
	switch a.Protocol() {
	case "imap":
		r.err = g.checkIMAP(ctx, a, &r)
	default:
		r.err = g.checkPOP3(ctx, a, &r)
	}
	if r.err != nil {
		r.err = fmt.Errorf("%s: %w", a.Name, r.err)
	}
	return r
}

func (g *globals) checkIMAP(ctx context.Context, a *config.Account, r *checkReport) error {
	dial, err := g.env(nil, nil).IMAPDialer(a)
	if err != nil {
		return err
	}
	c, err := dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	caps := c.Caps()
	for _, name := range []imap.Cap{imap.CapCondStore, imap.CapUIDPlus, imap.CapMove, imap.CapSpecialUse, imap.CapListStatus, imap.CapQuota, "APPENDLIMIT", "QRESYNC"} {
		if caps.Has(name) {
			r.caps = append(r.caps, string(name))
		}
	}
	opts := &imap.ListOptions{ReturnSpecialUse: caps.Has(imap.CapSpecialUse)}
	if caps.Has(imap.CapListStatus) {
		opts.ReturnStatus = &imap.StatusOptions{NumMessages: true}
	}
	boxes, err := c.List("", "*", opts).Collect()
	if err != nil && len(boxes) == 0 {
		return fmt.Errorf("list folders: %w", err)
	}
	if err != nil {
		r.notes = append(r.notes, fmt.Sprintf("folder list incomplete: %v", err))
	}
	names := make([]string, len(boxes))
	var delim rune
	for i, b := range boxes {
		names[i] = b.Mailbox
		if delim == 0 {
			delim = b.Delim
		}
	}
	ns, err := namespace.Discover(c.Client, names, delim)
	if err != nil {
		return err
	}
	for _, b := range boxes {
		cf := checkFolder{name: b.Mailbox}
		skip := false
		for _, at := range b.Attrs {
			if at == imap.MailboxAttrNoSelect || at == imap.MailboxAttrNonExistent {
				skip = true
			}
			if strings.HasPrefix(string(at), `\`) && at != imap.MailboxAttrHasChildren && at != imap.MailboxAttrHasNoChildren &&
				at != imap.MailboxAttrNoInferiors && at != imap.MailboxAttrMarked && at != imap.MailboxAttrUnmarked &&
				at != imap.MailboxAttrSubscribed {
				cf.specialUse = string(at)
			}
		}
		if skip {
			continue
		}
		if b.Status != nil && b.Status.NumMessages != nil {
			cf.messages = *b.Status.NumMessages
		} else if sd, err := c.Status(b.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait(); err == nil && sd.NumMessages != nil {
			cf.messages = *sd.NumMessages
		}
		if !a.Folders.Match(ns.Canonical(b.Mailbox, b.Delim), b.Delim) {
			cf.specialUse = strings.TrimSpace(cf.specialUse + " (excluded by folders:)")
		}
		r.folders = append(r.folders, cf)
	}
	sort.Slice(r.folders, func(i, j int) bool { return r.folders[i].name < r.folders[j].name })
	if !caps.Has(imap.CapCondStore) {
		r.notes = append(r.notes, "no CONDSTORE: each backup sweeps all flags (slower re-runs)")
	}
	return nil
}

func (g *globals) printCheck(r checkReport) {
	if g.json {
		out := map[string]any{"account": r.account, "protocol": r.protocol, "server": r.addr, "ok": r.err == nil,
			"capabilities": r.caps, "notes": r.notes}
		var fl []map[string]any
		for _, f := range r.folders {
			fl = append(fl, map[string]any{"folder": f.name, "messages": f.messages, "special_use": f.specialUse})
		}
		out["folders"] = fl
		if r.err != nil {
			out["error"] = ops.Describe("", r.err)
		}
		writeJSON(g.stdout, out)
		return
	}
	if r.err != nil {
		g.errorf("%s", r.err)
		if h := ops.HintFor(r.err); h != "" {
			g.hintf("%s", h)
		}
		return
	}
	var total uint32
	fmt.Fprintf(g.stdout, "%s: %s %s: logged in; capabilities: %s\n", termsafe.String(r.account), r.protocol, r.addr,
		termsafe.String(strings.Join(r.caps, " ")))
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	for _, f := range r.folders {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", f.messages, termsafe.String(f.name), termsafe.String(f.specialUse))
		total += f.messages
	}
	tw.Flush()
	fmt.Fprintf(g.stdout, "  %d messages in %d folders\n", total, len(r.folders))
	for _, n := range r.notes {
		fmt.Fprintf(g.stdout, "  note: %s\n", safeLine(n))
	}
}
