package namespace

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Discover asks the server for its namespaces (RFC 2342 NAMESPACE). A
// server without NAMESPACE, or one that refuses it, gets a guess from the
// folder names it listed (Guess); names and delim are those of LIST. An
// error is returned only when the connection failed.
func Discover(c *imapclient.Client, names []string, delim rune) (*Set, error) {
	if c.Caps().Has(imap.CapNamespace) {
		ns, err := c.Namespace().Wait()
		if err == nil && len(ns.Personal) > 0 {
			s := &Set{FromServer: true}
			add := func(k Kind, ds []imap.NamespaceDescriptor) {
				for _, d := range ds {
					s.Spaces = append(s.Spaces, Space{Kind: k, Prefix: d.Prefix, Delim: delimString(d.Delim)})
				}
			}
			add(Personal, ns.Personal)
			add(Other, ns.Other)
			add(Shared, ns.Shared)
			return s, nil
		}
		if err != nil && !isNo(err) {
			return nil, fmt.Errorf("namespace: %w", err)
		}
	}
	return Guess(names, delim), nil
}

func isNo(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && (ie.Type == imap.StatusResponseTypeNo || ie.Type == imap.StatusResponseTypeBad)
}

// Rights is what MYRIGHTS (RFC 4314, or RFC 2086 on older servers) says
// the user may do in a folder.
type Rights string

// MyRights asks for the user's rights in a folder. ok is false when the
// server has no ACL extension (then nothing is known and nothing is
// refused on its account) or refused the question.
func MyRights(c *imapclient.Client, mailbox string) (r Rights, ok bool, err error) {
	if !c.Caps().Has(imap.CapACL) {
		return "", false, nil
	}
	d, err := c.MyRights(mailbox).Wait()
	if err != nil {
		if isNo(err) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("myrights %s: %w", mailbox, err)
	}
	return Rights(d.Rights.String()), true, nil
}

// CanRead reports the right to SELECT the folder and read its mail ("r").
func (r Rights) CanRead() bool { return strings.ContainsRune(string(r), 'r') }

// CanDelete reports the rights cleanup needs: to set \Deleted ("t") and to
// EXPUNGE ("e") under RFC 4314, or "d" under RFC 2086, which meant both.
func (r Rights) CanDelete() bool {
	s := string(r)
	return strings.ContainsRune(s, 'd') || (strings.ContainsRune(s, 't') && strings.ContainsRune(s, 'e'))
}
