package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
)

// Msg is one message as the server serves it.
type Msg struct {
	UID   imap.UID
	Raw   []byte // BODY.PEEK[]
	Flags string // archive.JoinFlags: sorted, without \Recent
	Date  time.Time
}

// Hash is the SHA-256 of Raw, in hex.
func (m Msg) Hash() string {
	h := sha256.Sum256(m.Raw)
	return hex.EncodeToString(h[:])
}

func (m Msg) String() string {
	return fmt.Sprintf("%s (%d bytes) flags=[%s] date=%s", m.Hash()[:12], len(m.Raw), m.Flags, m.Date.Format(time.RFC3339))
}

// Folder is one folder as the server serves it.
type Folder struct {
	UIDValidity uint32
	Msgs        []Msg // in UID order
}

// State is an account's personal namespace, by canonical folder name.
type State map[string]*Folder

// Count is the number of messages in every folder.
func (s State) Count() int {
	n := 0
	for _, f := range s {
		n += len(f.Msgs)
	}
	return n
}

// Snapshot reads every selectable folder of the account's personal
// namespace with a fresh connection: BODY.PEEK[], FLAGS, INTERNALDATE.
func Snapshot(t testing.TB, a *Account) State {
	t.Helper()
	c := a.Client(t)
	defer c.Logout()
	out := State{}
	for _, name := range personalFolders(t, a, c) {
		f, err := readFolder(c, name)
		if err != nil {
			t.Fatalf("%s: snapshot of %s: %v", a.Server, name, err)
		}
		out[a.Canonical(name)] = f
	}
	return out
}

// personalFolders lists the selectable folders outside other users' and
// shared namespaces.
func personalFolders(t testing.TB, a *Account, c *imapclient.Client) []string {
	t.Helper()
	var foreign []string
	if c.Caps().Has(imap.CapNamespace) {
		ns, err := c.Namespace().Wait()
		if err != nil {
			t.Fatalf("%s: NAMESPACE: %v", a.Server, err)
		}
		for _, d := range append(ns.Other, ns.Shared...) {
			if d.Prefix != "" {
				foreign = append(foreign, d.Prefix)
			}
		}
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("%s: LIST: %v", a.Server, err)
	}
	var out []string
next:
	for _, l := range list {
		for _, at := range l.Attrs {
			if at == imap.MailboxAttrNoSelect || at == imap.MailboxAttrNonExistent {
				continue next
			}
		}
		for _, p := range foreign {
			if strings.HasPrefix(l.Mailbox, p) {
				continue next
			}
		}
		if !strings.EqualFold(l.Mailbox, "INBOX") && !strings.HasPrefix(l.Mailbox, a.Prefix) {
			continue
		}
		out = append(out, l.Mailbox)
	}
	sort.Strings(out)
	return out
}

func readFolder(c *imapclient.Client, name string) (*Folder, error) {
	sel, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, err
	}
	f := &Folder{UIDValidity: sel.UIDValidity, Msgs: []Msg{}}
	if sel.NumMessages == 0 {
		return f, nil
	}
	fc := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	for msg := fc.Next(); msg != nil; msg = fc.Next() {
		var m Msg
		for it := msg.Next(); it != nil; it = msg.Next() {
			switch d := it.(type) {
			case imapclient.FetchItemDataUID:
				m.UID = d.UID
			case imapclient.FetchItemDataFlags:
				var fl []string
				for _, x := range d.Flags {
					fl = append(fl, string(x))
				}
				m.Flags = archive.JoinFlags(fl)
			case imapclient.FetchItemDataInternalDate:
				m.Date = d.Time
			case imapclient.FetchItemDataBodySection:
				m.Raw = []byte{}
				if d.Literal != nil {
					if m.Raw, err = io.ReadAll(d.Literal); err != nil {
						return nil, err
					}
				}
			}
		}
		f.Msgs = append(f.Msgs, m)
	}
	if err := fc.Close(); err != nil {
		return nil, err
	}
	sort.Slice(f.Msgs, func(i, j int) bool { return f.Msgs[i].UID < f.Msgs[j].UID })
	return f, nil
}

// CompareOpts say what a comparison may forgive.
type CompareOpts struct {
	ZoneLost bool // compare INTERNALDATE's instant only
	Extra    bool // the target may hold other mail too
}

// Compare checks that every message of want is in the same folder of got
// exactly as often, with the same bytes, flags and INTERNALDATE, and
// (unless Extra) that got holds nothing else in those folders. It returns
// how many messages it compared.
func Compare(t testing.TB, what string, want, got State, o CompareOpts) int {
	t.Helper()
	key := func(m Msg) string {
		d := m.Date.Format(time.RFC3339)
		if o.ZoneLost {
			d = m.Date.UTC().Format(time.RFC3339)
		}
		return m.Hash() + " [" + m.Flags + "] " + d
	}
	n := 0
	folders := make([]string, 0, len(want))
	for f := range want {
		folders = append(folders, f)
	}
	sort.Strings(folders)
	for _, name := range folders {
		w := map[string]int{}
		for _, m := range want[name].Msgs {
			w[key(m)]++
		}
		gf := got[name]
		if gf == nil {
			if len(w) > 0 {
				t.Errorf("%s: no folder %q", what, name)
			}
			continue
		}
		g := map[string]int{}
		for _, m := range gf.Msgs {
			g[key(m)]++
		}
		for k, c := range w {
			if g[k] != c {
				t.Errorf("%s: folder %q: message %s: %d times, want %d", what, name, k, g[k], c)
			}
			n += c
		}
		if !o.Extra {
			for k, c := range g {
				if w[k] == 0 {
					t.Errorf("%s: folder %q: %d unexpected copies of %s", what, name, c, k)
				}
			}
		}
	}
	return n
}

// Without returns s less the messages whose bytes drop reports.
func (s State) Without(drop func(Msg) bool) State {
	out := State{}
	for name, f := range s {
		nf := &Folder{UIDValidity: f.UIDValidity, Msgs: []Msg{}}
		for _, m := range f.Msgs {
			if !drop(m) {
				nf.Msgs = append(nf.Msgs, m)
			}
		}
		out[name] = nf
	}
	return out
}
