package main

import (
	"context"
	"testing"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/namespace"
)

// TestLsCanonicalNames: ls shows folders in the canonical form patterns
// match ("INBOX.Sent" is "Sent" where the personal prefix is "INBOX."),
// other users' folders with their full name, and takes either form.
func TestLsCanonicalNames(t *testing.T) {
	ctx := context.Background()
	repo, err := archive.Open(ctx, t.TempDir(), &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	acct, err := repo.Account(ctx, "cy", "imap")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"INBOX", "INBOX.Sent", "INBOX.Archive.2019", "user.bob.Shared"} {
		f, err := repo.Folder(ctx, acct, n)
		if err != nil {
			t.Fatal(err)
		}
		f.Delimiter = "."
		if err := repo.UpdateFolder(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	ns := &namespace.Set{FromServer: true, Spaces: []namespace.Space{{Kind: namespace.Personal, Prefix: "INBOX.", Delim: "."},
		{Kind: namespace.Other, Prefix: "user.", Delim: "."}}}
	if err := repo.SetNamespaces(ctx, "cy", ns.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	stats, err := repo.Stats(ctx, "cy")
	if err != nil {
		t.Fatal(err)
	}
	canon, err := canonicalNames(ctx, repo, stats)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"INBOX": "INBOX", "INBOX.Sent": "Sent", "INBOX.Archive.2019": "Archive/2019", "user.bob.Shared": "user/bob/Shared"}
	for _, s := range stats {
		if canon[s.ID] != want[s.Name] {
			t.Errorf("ls name of %s = %q, want %q", s.Name, canon[s.ID], want[s.Name])
		}
	}
	for in, want := range map[string]string{"Sent": "INBOX.Sent", "INBOX.Sent": "INBOX.Sent", "Archive/2019": "INBOX.Archive.2019"} {
		if got, err := serverFolder(ctx, repo, "cy", in); err != nil || got != want {
			t.Errorf("serverFolder(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
}
