package restore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/backup"
	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/namespace"
)

// TestMapFolderTargetNamespaces: nothing is mapped into another user's or
// a public folder of the target, whether by name or by folder_map.
func TestMapFolderTargetNamespaces(t *testing.T) {
	alt := &layout{delim: '/', special: map[string]string{}, exists: map[string]bool{"INBOX": true},
		ns: &namespace.Set{Spaces: []namespace.Space{{Kind: namespace.Personal, Delim: "/"},
			{Kind: namespace.Other, Prefix: "Other Users/", Delim: "/"}, {Kind: namespace.Shared, Prefix: "Shared Folders/", Delim: "/"}}}}
	acct := &config.Account{FolderMap: map[string]string{"Team": "Other Users/bob/Team"}}
	for _, tc := range []struct {
		src     sourceFolder
		refused bool
	}{
		{sourceFolder{Name: "Other Users/m4/Shared", Delim: '/'}, true},
		{sourceFolder{Name: "Shared Folders/News", Delim: '/'}, true},
		{sourceFolder{Name: "Team", Delim: '/'}, true},
		{sourceFolder{Name: "user.m4.Shared", Delim: '.'}, false}, // a Debian Cyrus' other user: a plain folder here
		{sourceFolder{Name: "Archive/2019", Delim: '/'}, false},
		{sourceFolder{Name: "INBOX", Delim: '/'}, false},
	} {
		m := alt.mapFolder(tc.src, "", false, acct.MapFolder)
		if (m.Refused != "") != tc.refused {
			t.Errorf("mapFolder(%q) = %q, refused %q; want refused %v", tc.src.Name, m.Target, m.Refused, tc.refused)
		}
		if tc.refused && !strings.Contains(m.Refused, "not the account's own folders") {
			t.Errorf("mapFolder(%q) refusal = %q", tc.src.Name, m.Refused)
		}
	}
}

// TestRefusedFolderCounted (issue 11, 7.4): the messages of a folder the
// target refuses to create count as not on the target.
func TestRefusedFolderCounted(t *testing.T) {
	_, _, repo := backedUp(t, 20)
	_, ta := inproc(t, "new", nil)
	p := newProxy(t, ta.addr, proxyRules{onCreate: func(name string) string {
		if strings.HasPrefix(name, "Lists") || strings.HasPrefix(name, "Restored") {
			return "NO [CANNOT] not here"
		}
		return ""
	}})
	r := Restore(context.Background(), repo, via(ta, p.addr()).target(), &Options{Source: "old"}, nil)
	var lists *FolderResult
	for _, f := range r.Folders {
		if strings.HasPrefix(f.Target, "Lists") || strings.HasPrefix(f.Target, "Restored") {
			lists = f
		}
	}
	if lists == nil || lists.Err == nil || lists.InSource == 0 || lists.OnTarget != 0 {
		t.Fatalf("refused folder result = %+v, want an error and its messages counted in source, none on target", lists)
	}
	in, on, _, _, _, _, _ := r.Totals()
	if in-on != lists.InSource {
		t.Errorf("totals: %d of %d not on the target, want the refused folder's %d", in-on, in, lists.InSource)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "not on the target") {
		t.Errorf("Err() = %v, want it to say how many are not on the target", err)
	}
}

// TestRestoreLeavesOutOtherNamespaces: folders an older backup archived
// from other users' and public namespaces are not restored by default.
func TestRestoreLeavesOutOtherNamespaces(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	seedSample(src, "u", 10)
	for _, f := range []string{"Other Users/m4/Shared", "Shared Folders/News"} {
		if err := src.AddMailbox("u", f); err != nil {
			t.Fatal(err)
		}
		src.AddMessage("u", f, []byte("Subject: not mine\r\nMessage-ID: <"+f+"@x>\r\n\r\nbody\r\n"), nil, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	}
	src.SetNamespaces(&imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}},
		Other:    []imap.NamespaceDescriptor{{Prefix: "Other Users/", Delim: '/'}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: "Shared Folders/", Delim: '/'}},
	})
	repo := newRepo(t)
	every := namespace.Wanted{namespace.Personal, namespace.Other, namespace.Shared}
	if r := backup.IMAP(context.Background(), repo, &backup.IMAPAccount{Name: sa.name, Dial: sa.dial, Namespaces: every}, nil); !r.OK() {
		t.Fatalf("backup: %v", r.Err())
	}
	_, ta := inproc(t, "new", nil)
	r := Restore(context.Background(), repo, ta.target(), &Options{Source: "old"}, nil)
	checkResult(t, r, -1, 0)
	for _, f := range r.Folders {
		for _, s := range f.Sources {
			if strings.HasPrefix(s, "Other Users") || strings.HasPrefix(s, "Shared Folders") {
				t.Errorf("restored %s into %s", s, f.Target)
			}
		}
	}
	// Asked for: they go into the account's own folders of the same name.
	r = Restore(context.Background(), repo, ta.target(), &Options{Source: "old", Namespaces: every}, nil)
	checkResult(t, r, 2, -1)
}

// TestMigrateDryRunOwnFoldersOnly: a dry run of a migration from a server
// that lists other users' and public folders plans none of them, and
// nothing into the target's other namespaces.
func TestMigrateDryRunOwnFoldersOnly(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	seedSample(src, "u", 5)
	spaces := &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}},
		Other:    []imap.NamespaceDescriptor{{Prefix: "Other Users/", Delim: '/'}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: "Shared Folders/", Delim: '/'}},
	}
	for _, f := range []string{"Other Users/m4/Shared", "Shared Folders/News"} {
		if err := src.AddMailbox("u", f); err != nil {
			t.Fatal(err)
		}
		src.AddMessage("u", f, []byte("Subject: not mine\r\n\r\nbody\r\n"), nil, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	}
	src.SetNamespaces(spaces)
	dst, ta := inproc(t, "new", nil)
	dst.SetNamespaces(spaces)
	repo := newRepo(t)
	listed := func(ctx context.Context) ([]SourceFolder, error) {
		c, err := sa.dial(ctx)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		ns, err := namespace.Discover(c.Client, nil, '/')
		if err != nil {
			return nil, err
		}
		var out []SourceFolder
		for _, mb := range src.Mailboxes("u") {
			out = append(out, SourceFolder{Name: mb.Name, Delim: '/', Kind: ns.Kind(mb.Name)})
		}
		return out, nil
	}
	r := Migrate(context.Background(), repo, ta.target(), &Options{Source: "old", DryRun: true, SourceFolders: listed},
		func(ctx context.Context) *backup.Result {
			return backup.IMAP(ctx, repo, &backup.IMAPAccount{Name: "old", Dial: sa.dial, DryRun: true}, nil)
		}, nil)
	if r.Fatal != nil {
		t.Fatal(r.Fatal)
	}
	if len(r.Folders) == 0 {
		t.Fatal("dry run planned no folders")
	}
	for _, f := range r.Folders {
		if strings.HasPrefix(f.Target, "Other Users") || strings.HasPrefix(f.Target, "Shared Folders") || f.Err != nil {
			t.Errorf("dry run planned %v -> %s (err %v)", f.Sources, f.Target, f.Err)
		}
	}
}
