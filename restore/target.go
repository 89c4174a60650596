package restore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/namespace"
)

// discover learns the target's personal namespace, delimiter and folders.
// Only the account's own folders (its personal namespace) count: other
// users' and public folders a server such as Cyrus lists are neither
// targets nor special-use folders to map onto.
func discover(c *imapconn.Conn) (*layout, error) {
	caps := c.Caps()
	l := &layout{special: map[string]string{}, exists: map[string]bool{}, useAttrs: caps.Has(imap.CapSpecialUse)}
	opts := &imap.ListOptions{}
	if l.useAttrs {
		opts.ReturnSpecialUse = true
	}
	type entry struct {
		name       string
		attrs      []imap.MailboxAttr
		selectable bool
	}
	var entries []entry
	var names []string
	var listDelim rune
	lc := c.List("", "*", opts)
	for {
		d := lc.Next()
		if d == nil {
			break
		}
		if listDelim == 0 {
			listDelim = d.Delim
		}
		e := entry{name: d.Mailbox, attrs: d.Attrs, selectable: true}
		for _, a := range d.Attrs {
			if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
				e.selectable = false
			}
		}
		if isInbox(e.name) {
			e.name = "INBOX"
		}
		entries = append(entries, e)
		if e.selectable {
			names = append(names, e.name)
		}
	}
	if err := lc.Close(); err != nil {
		// go-imap stops at the first name it cannot decode: what was listed
		// is right, the rest is unknown. Folders are then created as needed
		// (an existing one answers ALREADYEXISTS, which is fine).
		if len(entries) == 0 && c.Broken() {
			return nil, fmt.Errorf("list folders: %w", err)
		}
	}
	if listDelim == 0 {
		// RFC 3501 6.3.8: LIST "" "" gives the hierarchy delimiter.
		if ds, err := c.List("", "", nil).Collect(); err == nil && len(ds) > 0 {
			listDelim = ds[0].Delim
		}
	}
	ns, err := namespace.Discover(c.Client, names, listDelim)
	if err != nil {
		return nil, err
	}
	l.ns = ns
	personal := ns.Personal()
	l.prefix, l.delim = personal.Prefix, listDelim
	if ns.FromServer {
		l.delim = delimRune(personal.Delim)
	}
	var own []string
	for _, e := range entries {
		if ns.Kind(e.name) != namespace.Personal {
			continue
		}
		for _, a := range e.attrs {
			if su := string(imapconn.SpecialUseOf(a)); su != "" {
				if _, dup := l.special[su]; !dup {
					l.special[su] = e.name
				}
			}
		}
		if e.selectable {
			l.exists[e.name] = true
			own = append(own, e.name)
		}
	}
	if len(l.special) == 0 {
		// No SPECIAL-USE: recognise the usual names of top-level folders.
		for _, n := range own {
			rel := n
			if l.prefix != "" && hasPrefixFold(rel, l.prefix) {
				rel = rel[len(l.prefix):]
			}
			if l.delim != 0 && strings.ContainsRune(rel, l.delim) {
				continue
			}
			if role := roleByName(rel); role != "" {
				if _, dup := l.special[role]; !dup {
					l.special[role] = n
				}
			}
		}
	}
	return l, nil
}

// planner returns the connection the planner works on.
func (e *engine) planner() (*imapconn.Conn, error) {
	c, err := e.planSlot.get(e.ctx)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", e.t.Name, err)
	}
	return c, nil
}

// selectFolder selects tf on the planner's connection (read-only in a dry
// run), unless it already is.
func (e *engine) selectFolder(tf *tfolder) (*imapconn.Conn, *imap.SelectData, error) {
	c, err := e.planner()
	if err != nil {
		return nil, nil, err
	}
	sel, err := c.Select(tf.name, &imap.SelectOptions{ReadOnly: e.o.DryRun}).Wait()
	if err != nil {
		return nil, nil, fmt.Errorf("select %s: %w", tf.name, err)
	}
	e.selConn, e.selName = c, tf.name
	return c, sel, nil
}

// open makes sure tf exists on the target and reads its state once: its
// UIDVALIDITY, PERMANENTFLAGS, the UIDs it holds, and the ledger rows for
// it whose UIDs are still there.
func (e *engine) open(tf *tfolder) error {
	if tf.opened {
		return nil
	}
	tf.onTarget = map[uint32]bool{}
	tf.bySource = map[int64]*lrow{}
	tf.byHash = map[archive.Hash][]*lrow{}
	if !tf.exists {
		if e.o.DryRun {
			tf.res.Created = true
			tf.policy = &flagPolicy{listed: map[string]bool{}, keywords: true}
			for f := range systemFlags {
				tf.policy.listed[f] = true
			}
			tf.opened = true
			return nil
		}
		if err := e.create(tf); err != nil {
			return err
		}
	}
	c, sel, err := e.selectFolder(tf)
	if err != nil {
		return err
	}
	tf.uidv = sel.UIDValidity
	tf.policy = newFlagPolicy(sel)
	uids, err := e.searchUIDs(c, imap.UIDRange{Start: 1, Stop: 0}, sel.NumMessages)
	if err != nil {
		return fmt.Errorf("search %s: %w", tf.name, err)
	}
	for _, u := range uids {
		tf.onTarget[u] = true
		if u > tf.scanned {
			tf.scanned = u
		}
	}
	rows, err := e.repo.Ledger(e.ctx, e.t.Name, tf.name, tf.uidv)
	if err != nil {
		return archiveErr(err)
	}
	explained := map[uint32]bool{}
	var stale []int64
	for _, r := range rows {
		if !tf.onTarget[r.UID] || explained[r.UID] {
			stale = append(stale, r.ID)
			continue
		}
		explained[r.UID] = true
		lr := &lrow{LedgerEntry: r}
		tf.bySource[r.Source] = lr
		tf.byHash[r.Hash] = append(tf.byHash[r.Hash], lr)
	}
	if len(stale) > 0 && !e.o.DryRun {
		// Deleted on the target since (or duplicated rows): forget them, so
		// the messages are copied again if they are still in the source.
		if err := e.repo.ForgetLedger(e.wctx, stale); err != nil {
			return archiveErr(err)
		}
		e.info(tf.name, fmt.Sprintf("%d messages recorded in the ledger are no longer on the target", len(stale)))
	}
	for _, u := range uids {
		if !explained[u] {
			tf.unknown = append(tf.unknown, u)
		}
	}
	tf.opened = true
	return nil
}

// searchUIDs lists the UIDs in r (ESEARCH where offered: one compact line).
func (e *engine) searchUIDs(c *imapconn.Conn, r imap.UIDRange, count uint32) ([]uint32, error) {
	if count == 0 && r.Start == 1 {
		return nil, nil
	}
	crit := &imap.SearchCriteria{}
	if r.Start > 1 {
		crit.UID = []imap.UIDSet{{r}}
	}
	var opts *imap.SearchOptions
	if e.esearch {
		opts = &imap.SearchOptions{ReturnAll: true}
	}
	sd, err := c.UIDSearch(crit, opts).Wait()
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, u := range sd.AllUIDs() {
		if uint32(u) >= uint32(r.Start) {
			out = append(out, uint32(u))
		}
	}
	return out, nil
}

// create makes the target folder, falling back to a plainer name when the
// target refuses the mapped one (a reserved or invalid name).
func (e *engine) create(tf *tfolder) error {
	c, err := e.planner()
	if err != nil {
		return err
	}
	err = createFolder(c, tf.name, tf.specialUse, e.canCreateSpecialUse)
	if err == nil {
		tf.res.Created, tf.exists = true, true
		e.lay.exists[tf.name] = true
		e.info(tf.name, "created")
		return nil
	}
	if !isNo(err) {
		return fmt.Errorf("create %s: %w", tf.name, err)
	}
	alt := e.lay.strictName(tf.name)
	c, perr := e.planner()
	if perr != nil {
		return perr
	}
	if err2 := createFolder(c, alt, tf.specialUse, e.canCreateSpecialUse); err2 != nil {
		return fmt.Errorf("the target refused folder %s (%v) and %s (%v)", quote(tf.name), err, quote(alt), err2)
	}
	e.warn(tf.name, fmt.Sprintf("the target refused this name (%v); using %s", err, quote(alt)))
	tf.res.Notes = append(tf.res.Notes, fmt.Sprintf("the target refused %s (%v); written to %s", quote(tf.name), err, quote(alt)))
	tf.name, tf.res.Target = alt, alt
	tf.res.Created, tf.exists = true, true
	e.lay.exists[alt] = true
	return nil
}

func isNo(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && (ie.Type == imap.StatusResponseTypeNo || ie.Type == imap.StatusResponseTypeBad)
}
