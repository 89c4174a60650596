package conformance

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mailkeep/mailkeep/internal/cyrus"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/pop3srv"
)

// Servers returns every server the suite runs against. Dovecot and Cyrus
// are started on first use (once per test binary and layout), so a test
// that picks one by name starts only that one.
func Servers() []Server {
	return []Server{InProcess{}, Dovecot{}, Cyrus{Layout: cyrus.LayoutDebian}, Cyrus{Layout: cyrus.LayoutAlt}}
}

// InProcess is mailkeep's own in-process IMAP server (internal/imapsrv),
// with a POP3 server (internal/pop3srv) for the maildrop: it serves
// everything byte for byte as stored, and keeps INTERNALDATE's zone.
type InProcess struct{ Options *imapsrv.Options }

func (InProcess) Name() string { return "imapsrv" }

func (p InProcess) NewAccount(t testing.TB) *Account {
	t.Helper()
	srv := imapsrv.New(p.Options)
	srv.AddUser("u", "p")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	pop, err := pop3srv.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pop.Close() })
	pop.AddUser("u", "p")
	var n atomic.Int64
	return &Account{
		Server: p.Name(), IMAPAddr: srv.Addr(), POP3Addr: pop.Addr(), User: "u", Password: "p",
		Prefix: "", Delimiter: '/',
		addPOP3: func(raw []byte) { pop.AddMessage("u", fmt.Sprintf("uidl-%d", n.Add(1)), raw) },
		probe:   p.NewAccount,
	}
}

// Dovecot is a private Dovecot 2.3 (internal/dovecot), default namespace.
type Dovecot struct{}

func (Dovecot) Name() string { return "dovecot" }

func (d Dovecot) NewAccount(t testing.TB) *Account {
	t.Helper()
	srv := dovecot.Shared(t)
	user, pass := srv.NewUser(t)
	return &Account{
		Server: d.Name(), IMAPAddr: srv.IMAPAddr, POP3Addr: srv.POP3Addr, User: user, Password: pass,
		Prefix: srv.Prefix, Delimiter: srv.Delimiter, ZoneLost: true, probe: d.NewAccount,
	}
}

// Cyrus is a private Cyrus IMAP 3.6 (internal/cyrus) in one layout.
type Cyrus struct{ Layout cyrus.Layout }

func (c Cyrus) Name() string { return "cyrus-" + c.Layout.String() }

func (c Cyrus) NewAccount(t testing.TB) *Account {
	t.Helper()
	srv := cyrus.Shared(t, c.Layout)
	user, pass := srv.NewUser(t)
	return &Account{
		Server: c.Name(), IMAPAddr: srv.IMAPAddr, POP3Addr: srv.POP3Addr, User: user, Password: pass,
		Prefix: srv.Prefix, Delimiter: srv.Delimiter, ZoneLost: true, probe: c.NewAccount,
	}
}
