package imapsrv

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestNamespacesAndRights: NAMESPACE answers what SetNamespaces gave,
// MYRIGHTS what SetRights gave (all rights where nothing was set), ACL is
// advertised, and a lookup-only folder cannot be selected.
func TestNamespacesAndRights(t *testing.T) {
	srv := startServer(t, nil)
	for _, mb := range []string{"Other Users/bob/Shared", "Other Users/bob/Private", "Shared Folders/News"} {
		if err := srv.AddMailbox(testUser, mb); err != nil {
			t.Fatal(err)
		}
	}
	srv.SetNamespaces(&imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}},
		Other:    []imap.NamespaceDescriptor{{Prefix: "Other Users/", Delim: '/'}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: "Shared Folders/", Delim: '/'}},
	})
	srv.SetRights(testUser, "Other Users/bob/Shared", "lrs")
	srv.SetRights(testUser, "Other Users/bob/Private", "l")

	c := dial(t, srv, nil)
	if !c.Caps().Has(imap.CapACL) {
		t.Errorf("Caps() = %v, want ACL in it", c.Caps())
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" || len(ns.Shared) != 1 {
		t.Fatalf("Namespace() = %+v, %v", ns, err)
	}
	for mb, want := range map[string]string{"INBOX": "lrswipkxtecda", "Other Users/bob/Shared": "lrs", "Other Users/bob/Private": "l"} {
		d, err := c.MyRights(mb).Wait()
		if err != nil || d.Rights.String() != want {
			t.Errorf("MyRights(%q) = %+v, %v, want %q", mb, d, err, want)
		}
	}
	if _, err := c.MyRights("Nope").Wait(); err == nil {
		t.Error("MyRights(a missing mailbox) = nil error, want NO")
	}
	if _, err := c.Select("Other Users/bob/Private", nil).Wait(); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("Select(lookup-only) = %v, want NO Permission denied", err)
	}
	mustSelect(t, c, "Other Users/bob/Shared")

	// Pipelined: answers come in the order of the commands.
	rc := dialRaw(t, srv, true)
	if _, err := io.WriteString(rc.conn, "P1 SELECT INBOX\r\nP2 MYRIGHTS INBOX\r\nP3 NOOP\r\n"); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, tag := range []string{"P1", "P2", "P3"} {
		for _, l := range rc.until(tag) {
			if strings.HasPrefix(l, "P") || strings.HasPrefix(l, "* MYRIGHTS") {
				order = append(order, strings.Fields(l)[0]+" "+strings.Fields(l)[1])
			}
		}
	}
	if got, want := strings.Join(order, ", "), "P1 OK, * MYRIGHTS, P2 OK, P3 OK"; got != want {
		t.Errorf("pipelined answers = %s, want %s", got, want)
	}
}
