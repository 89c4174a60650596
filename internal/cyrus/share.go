package cyrus

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// SharedFolder is a folder outside the personal namespace of the account
// it is shared with.
type SharedFolder struct {
	// AsGrantee is its name as the grantee sees it in LIST:
	// "user.m4.Shared" (LayoutDebian), "Other Users/m4/Shared" (LayoutAlt);
	// for a public folder "Public" or "Shared Folders/Public".
	AsGrantee string
	// AsOwner is its name for its owner's own logins ("INBOX.Shared",
	// "Shared"); empty for a public folder.
	AsOwner string
	// Owner is the user whose folder it is; the admin for a public folder.
	Owner string
	// Internal is the admin's name for it (user.m4.Shared, user/m4/Shared,
	// Public).
	Internal string
}

// ShareFolder creates the folder levels of owner's (owner is made a user
// with the default password if unknown) and grants grantee rights on it
// (RFC 4314 letters, e.g. "lr" to read, "lrswited" for everything a
// backup and cleanup might use). Seed it with Append(owner, f.AsOwner, ...),
// before or after sharing.
func (s *Server) ShareFolder(tb testing.TB, owner string, levels []string, grantee, rights string) SharedFolder {
	tb.Helper()
	if s.PasswordOf(owner) == "" {
		s.AddUser(tb, owner, s.Password)
	}
	f := SharedFolder{
		AsOwner:  s.Folder(levels...),
		Owner:    owner,
		Internal: s.userMailbox(owner, levels...),
	}
	d := string(s.Delimiter)
	if s.Layout == LayoutAlt {
		f.AsGrantee = "Other Users" + d + owner + d + strings.Join(levels, d)
	} else {
		f.AsGrantee = f.Internal
	}
	s.CreateFolder(tb, owner, f.AsOwner)
	s.SetACL(tb, f.Internal, grantee, rights)
	return f
}

// PublicFolder creates a folder in the shared ("public") namespace, gives
// the admin all rights on it (so Append(s.Admin, f.Internal, ...) seeds
// it) and grants grantee rights.
func (s *Server) PublicFolder(tb testing.TB, levels []string, grantee, rights string) SharedFolder {
	tb.Helper()
	d := string(s.Delimiter)
	name := strings.Join(levels, d)
	f := SharedFolder{Owner: s.Admin, Internal: name, AsGrantee: name}
	if s.Layout == LayoutAlt {
		f.AsGrantee = "Shared Folders" + d + name
	}
	s.AdminDo(tb, func(c *imapclient.Client) error {
		if err := c.Create(name, nil).Wait(); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		return c.SetACL(name, imap.RightsIdentifier(s.Admin), imap.RightModificationReplace, imap.RightSet("lrswipkxtecda")).Wait()
	})
	s.SetACL(tb, f.Internal, grantee, rights)
	return f
}

// SetACL replaces identifier's rights on a mailbox (the admin's name for
// it, e.g. SharedFolder.Internal); empty rights remove them.
func (s *Server) SetACL(tb testing.TB, mailbox, identifier, rights string) {
	tb.Helper()
	s.AdminDo(tb, func(c *imapclient.Client) error {
		if err := c.SetACL(mailbox, imap.RightsIdentifier(identifier), imap.RightModificationReplace, imap.RightSet(rights)).Wait(); err != nil {
			return fmt.Errorf("setacl %s %s %s: %w", mailbox, identifier, rights, err)
		}
		return nil
	})
}
