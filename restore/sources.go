package restore

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/namespace"
)

// The source side of a restore: which archived folders are restored (the
// account's own namespace unless asked for more, the folder filter on
// canonical names, deleted or as-of) and the target folder each maps to.

// refreshSources finds the source folders (new ones appear while a
// migration's backup runs) and maps each to a target folder once.
func (e *engine) refreshSources() error {
	if e.acct == nil {
		a, err := e.repo.LookupAccount(e.ctx, e.o.Source)
		switch {
		case errors.Is(err, archive.ErrNotFound):
			if len(e.listed) == 0 {
				return nil // nothing archived yet
			}
			a = &archive.Account{ID: -1}
		case err != nil:
			return err
		}
		e.acct = a
	}
	folders, err := e.committedFolders(e.acct.ID)
	if err != nil {
		return err
	}
	if e.backupRunning {
		// A folder's delimiter and special use are stored with its first
		// checkpoint (together with its UIDVALIDITY); until then its name
		// cannot be mapped right. INBOX needs neither; POP3 has only INBOX.
		folders = slices.DeleteFunc(folders, func(f *archive.Folder) bool { return f.UIDValidity == 0 && !isInbox(f.Name) })
	}
	folders = append(folders, e.listed...)
	var all []sourceFolder
	names := make([]string, 0, len(folders))
	var delim rune
	for _, f := range folders {
		all = append(all, sourceFolder{Name: f.Name, Delim: delimRune(f.Delimiter), SpecialUse: f.SpecialUse})
		names = append(names, f.Name)
		if delim == 0 {
			delim = delimRune(f.Delimiter)
		}
	}
	text, err := e.repo.Namespaces(e.ctx, e.o.Source)
	if err != nil {
		return archiveErr(err)
	}
	ns, guess := namespace.Recorded(text, names, delim), guessRoles(all)
	for _, f := range folders {
		if e.srcs[f.ID] != nil || e.outside[f.ID] {
			continue
		}
		kind := ns.Kind(f.Name)
		if !e.o.Namespaces.Has(kind) {
			if e.outside == nil {
				e.outside = map[int64]bool{}
			}
			e.outside[f.ID] = true
			e.info(f.Name, fmt.Sprintf("left out: archived from the source's %s namespace, not the account's own folders", kind))
			continue
		}
		if !e.wantFolder(f, ns.Canonical(f.Name, delimRune(f.Delimiter))) {
			continue
		}
		prefix := ""
		if kind == namespace.Personal {
			prefix = ns.PersonalPrefix()
		}
		if e.backupRunning && guess && f.SpecialUse == "" && roleByName(ns.Canonical(f.Name, delimRune(f.Delimiter))) != "" {
			// Roles are guessed from names only when the source announces
			// none, which is known once every folder is checkpointed: a
			// folder named like one (Entwürfe, Sent) waits until then.
			continue
		}
		sf := &srcFolder{f: f, places: map[int64]*place{}}
		sf.m = e.lay.mapFolder(sourceFolder{Name: f.Name, Delim: delimRune(f.Delimiter), SpecialUse: f.SpecialUse},
			prefix, guess, e.t.FolderMap)
		tf := e.tfs[sf.m.Target]
		if tf == nil {
			tf = &tfolder{name: sf.m.Target, specialUse: sf.m.SpecialUse, exists: e.lay.exists[sf.m.Target],
				places: map[int64]*place{}, keys: map[string]map[archive.Hash]bool{},
				res: &FolderResult{Target: sf.m.Target, How: sf.m.How, SpecialUse: sf.m.SpecialUse}}
			e.tfs[sf.m.Target] = tf
			e.res.Folders = append(e.res.Folders, tf.res)
			if sf.m.Refused != "" {
				e.folderFailed(tf, errors.New(sf.m.Refused))
			}
		}
		tf.srcs = append(tf.srcs, sf)
		tf.res.Sources = append(tf.res.Sources, f.Name)
		tf.res.Notes = append(tf.res.Notes, sf.m.Notes...)
		sf.tf = tf
		e.srcs[f.ID] = sf
		e.srcList = append(e.srcList, sf)
		e.info(f.Name, fmt.Sprintf("-> %s (%s)", sf.m.Target, sf.m.How))
	}
	return nil
}

func delimRune(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}

// wantFolder applies the folder filter and, for folders gone from the
// source server, the deleted/as-of choice.
func (e *engine) wantFolder(f *archive.Folder, canon string) bool {
	if e.o.Include != nil && !e.o.Include(canon, delimRune(f.Delimiter)) {
		return false
	}
	switch {
	case !e.o.AsOf.IsZero():
		return !f.FirstSeen.After(e.o.AsOf) && (f.GoneSince.IsZero() || f.GoneSince.After(e.o.AsOf))
	case e.o.IncludeDeleted:
		return true
	}
	return f.GoneSince.IsZero() || e.holdsOffServer(f)
}

// holdsOffServer reports whether a folder gone from the server still has
// archived mail that mailkeep took off it (cleanup, POP3 delete): that
// mail is restored by default, so its folder is too.
func (e *engine) holdsOffServer(f *archive.Folder) bool {
	if e.offServer == nil {
		e.offServer = map[int64]bool{}
		counts, err := e.repo.FolderCounts(e.ctx, e.o.Source, false) // archive.KeptSQL: present or off the server
		if err != nil {
			return false
		}
		for id, c := range counts {
			e.offServer[id] = c.Messages > 0
		}
	}
	return e.offServer[f.ID]
}
