package config

import (
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/internal/namespace"
)

// Patterns match the canonical name: on a Courier-style server (delimiter
// ".", personal prefix "INBOX.") "Sent" is INBOX.Sent.
func TestFolderFilterCanonicalNames(t *testing.T) {
	f := FolderFilter{Exclude: []string{"Sent", "Trash", "Archive/%"}}
	set := &namespace.Set{Spaces: []namespace.Space{{Kind: namespace.Personal, Prefix: "INBOX.", Delim: "."}}}
	tests := []struct {
		server string
		want   bool
	}{
		{"INBOX", true},
		{"INBOX.Sent", false},
		{"INBOX.Trash", false},
		{"INBOX.Archive.2020", false},
		{"INBOX.Archive.2020.Q1", true},
		{"INBOX.Drafts", true},
	}
	var names []string
	for _, tt := range tests {
		name := set.Canonical(tt.server, '.')
		names = append(names, name)
		if got := f.Match(name, '.'); got != tt.want {
			t.Errorf("Match(%q (server %q)) = %v, want %v", name, tt.server, got, tt.want)
		}
	}
	if u := f.Unmatched(names, '.'); len(u) != 0 {
		t.Errorf("Unmatched() = %q, want none", u)
	}
	g := FolderFilter{Include: []string{"INBOX", "Sent"}, Exclude: []string{"Spam"}}
	if got, want := strings.Join(g.Unmatched(names, '.'), "; "), `exclude pattern "Spam"`; got != want {
		t.Errorf("Unmatched() = %q, want %q", got, want)
	}
}

func TestNamespacesKey(t *testing.T) {
	base := "archive: /tmp/a\naccounts:\n  a:\n    imap: {host: h}\n    username: u\n    password_env: P\n"
	c, _, err := Parse([]byte(base+"    namespaces: [personal, other, shared]\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Accounts["a"].Namespaces; len(got) != 3 || !got.Has(namespace.Other) || !got.Has(namespace.Shared) {
		t.Errorf("Namespaces = %v, want [personal other shared]", got)
	}
	c, _, err = Parse([]byte(base), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Accounts["a"].Namespaces; got.Has(namespace.Other) || !got.Has(namespace.Personal) {
		t.Errorf("default Namespaces = %v, want personal only", got)
	}
	_, _, err = Parse([]byte(base+"    namespaces: [personal, public]\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), `accounts.a.namespaces`) || !strings.Contains(err.Error(), `"public"`) {
		t.Errorf("Parse(namespaces: [public]) error = %v, want one naming accounts.a.namespaces and \"public\"", err)
	}
	_, _, err = Parse([]byte("archive: /tmp/a\naccounts:\n  p:\n    pop3: {host: h}\n    username: u\n    password_env: P\n    namespaces: [other]\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "namespaces") {
		t.Errorf("Parse(pop3 with namespaces) error = %v, want one naming namespaces", err)
	}
}
