package backup

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/namespace"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// Which listed folders are the account's to back up. A server such as
// Cyrus lists other users' folders shared with the user ("user.bob.Shared")
// and public folders ("Public") in LIST "" "*". They are not the user's
// mail: unless the account's namespaces ask for them they are left out,
// and a folder the user may only see (MYRIGHTS without "r") is skipped
// with one line, never counted as a failure.

// learnNamespaces asks the server for its namespaces once per run (a guess
// from the listed names without NAMESPACE) and gives every mailbox its
// canonical name.
func (b *imapBackup) learnNamespaces(boxes []mailbox) error {
	if b.ns == nil {
		names := make([]string, len(boxes))
		var delim rune
		for i, mb := range boxes {
			names[i] = mb.name
			if delim == 0 {
				delim = mb.delim
			}
		}
		ns, err := namespace.Discover(b.conn.Client, names, delim)
		if err != nil {
			return err
		}
		b.ns = ns
	}
	for i := range boxes {
		boxes[i].canon = b.ns.Canonical(boxes[i].name, boxes[i].delim)
		boxes[i].space = b.ns.Kind(boxes[i].name)
	}
	return nil
}

// scope returns the mailboxes in the namespaces the account asked for
// (the personal one by default) and the others, and records the server's
// namespaces in the archive.
func (b *imapBackup) scope(boxes []mailbox) (in, out []mailbox, err error) {
	if err := b.learnNamespaces(boxes); err != nil {
		return nil, nil, err
	}
	if !b.a.DryRun && b.repo != nil {
		// Written only when it changed: an unchanged account's re-run
		// writes nothing.
		enc := b.ns.Encode()
		old, err := b.repo.Namespaces(b.ctx, b.a.Name)
		if err != nil {
			return nil, nil, err
		}
		if old != enc {
			if err := b.repo.SetNamespaces(b.ctx, b.a.Name, enc); err != nil {
				return nil, nil, err
			}
		}
	}
	left := map[namespace.Kind]int{}
	for _, mb := range boxes {
		if b.a.Namespaces.Has(mb.space) {
			in = append(in, mb)
			continue
		}
		out = append(out, mb)
		left[mb.space]++
	}
	if len(out) > 0 {
		var parts []string
		for _, k := range namespace.Kinds {
			if left[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d in the %s namespace", left[k], spaceName(k)))
			}
		}
		progress.Send(b.rep, progress.Event{Kind: progress.Info, Account: b.a.Name,
			Text: fmt.Sprintf("left out %d folders that are not the account's own (%s); the account's namespaces key chooses them",
				len(out), strings.Join(parts, ", "))})
	}
	b.warnUnmatched(in)
	return in, out, nil
}

func spaceName(k namespace.Kind) string {
	switch k {
	case namespace.Other:
		return "other users'"
	case namespace.Shared:
		return "shared"
	}
	return string(k)
}

// warnUnmatched warns about each folder pattern of the account that
// matches none of its folders: most likely a typo, and the folder meant is
// backed up (or left out) against the user's wish.
func (b *imapBackup) warnUnmatched(boxes []mailbox) {
	if b.a.Filter == nil || len(boxes) == 0 {
		return
	}
	names := make([]string, len(boxes))
	for i, mb := range boxes {
		names[i] = mb.canon
	}
	if u := b.a.Filter.Unmatched(names, boxes[0].delim); len(u) > 0 {
		sort.Strings(names)
		progress.Send(b.rep, progress.Event{Kind: progress.Warning, Account: b.a.Name,
			Text: fmt.Sprintf("folders: %s %s (folders: %s)", strings.Join(u, ", "), ErrNoMatch, strings.Join(names, ", "))})
	}
}

// unreadable reports why the user may not read a folder, "" if they may
// (or nothing is known). Folders outside the personal namespace are asked
// about before they are selected; others only after a SELECT was refused.
func (b *imapBackup) unreadable(mb mailbox, selectErr error) string {
	if selectErr == nil && mb.space == namespace.Personal {
		return ""
	}
	if selectErr != nil {
		var ie *imap.Error
		if !errors.As(selectErr, &ie) || ie.Type != imap.StatusResponseTypeNo {
			return ""
		}
	}
	r, ok, err := namespace.MyRights(b.conn.Client, mb.name)
	if err != nil || !ok || r.CanRead() {
		return ""
	}
	return fmt.Sprintf("no right to read it (MYRIGHTS %q); left out", string(r))
}

// skipUnreadable records a folder the user may not read: one line, no
// failure.
func (b *imapBackup) skipUnreadable(fx *folderRun, why string) FolderResult {
	fx.fr.NoAccess = why
	fx.fr.Err = nil
	b.res.NoAccess = append(b.res.NoAccess, fx.mb.canon)
	progress.Send(b.rep, progress.Event{Kind: progress.FolderDone, Account: b.a.Name, Folder: fx.mb.name, Text: "skipped: " + why})
	return fx.fr
}
