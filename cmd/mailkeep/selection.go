package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailkeep/mailkeep/archive"
)

// selection is --query / --id of export and restore: just the messages a
// search found, or those ids.
type selection struct {
	query          string
	ids            []int64
	includeDeleted bool // the search's --include-deleted
}

func (s *selection) add(cmd *cobra.Command, verb string) {
	f := cmd.Flags()
	f.StringVar(&s.query, "query", "", "only the messages this search finds (see 'mailkeep search --help')")
	f.Int64SliceVar(&s.ids, "id", nil, "only the message with this id, as 'mailkeep search' shows it (repeatable)")
}

func (s *selection) active() bool { return s.query != "" || len(s.ids) > 0 }

// chosen is what a selection found: place ids, by account and folder.
type chosen struct {
	only     map[int64]bool
	accounts map[string]map[string]bool // account -> folder names
}

// resolve runs the selection against the archive in dir. account, when
// set, limits it to that account; otherwise the messages must all be in
// one account, which is returned.
func (g *globals) resolveSelection(ctx context.Context, dir string, s *selection, account string) (*chosen, string, error) {
	var terms []archive.Term
	if s.query != "" {
		var err error
		if terms, err = archive.ParseSearch(s.query); err != nil {
			return nil, "", &exitError{code: exitUsage, err: fmt.Errorf("--query: %w", err), hint: "run 'mailkeep search --help' for the terms"}
		}
	}
	repo, err := g.openSearchable(ctx, dir)
	if err != nil {
		return nil, "", err
	}
	defer repo.Close()
	c := &chosen{only: map[int64]bool{}, accounts: map[string]map[string]bool{}}
	addHit := func(id int64, acct, folder string) {
		c.only[id] = true
		if c.accounts[acct] == nil {
			c.accounts[acct] = map[string]bool{}
		}
		c.accounts[acct][folder] = true
	}
	for _, id := range s.ids {
		e, err := repo.Place(ctx, id)
		if errors.Is(err, archive.ErrNotFound) {
			return nil, "", &exitError{code: exitUsage, err: fmt.Errorf("--id %d: no such message in the archive", id), hint: "'mailkeep search' gives the ids"}
		}
		if err != nil {
			return nil, "", &exitError{code: exitFailed, err: err}
		}
		if account != "" && e.Account != account {
			return nil, "", usageErr("--id %d is in account %s, not %s", id, e.Account, account)
		}
		addHit(e.ID, e.Account, e.FolderName)
	}
	if s.query != "" {
		for h, err := range repo.SearchHits(ctx, archive.SearchQuery{Terms: terms, Account: account, IncludeDeleted: s.includeDeleted}) {
			if err != nil {
				return nil, "", &exitError{code: exitFailed, err: err}
			}
			addHit(h.ID, h.Account, h.Folder)
		}
	}
	if len(c.only) == 0 {
		return nil, "", &exitError{code: exitFailed, err: errors.New("--query: no archived message matches"),
			hint: "try the query with 'mailkeep search' first"}
	}
	if account == "" {
		var names []string
		for a := range c.accounts {
			names = append(names, a)
		}
		sort.Strings(names)
		if len(names) > 1 {
			return nil, "", usageErr("the messages chosen are in %d accounts (%s); name the account", len(names), strings.Join(names, ", "))
		}
		account = names[0]
	}
	return c, account, nil
}
