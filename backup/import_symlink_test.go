package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// TestImportNeverFollowsLinks: links planted in an import source, to files
// and directories outside it (and loops), are skipped with a warning that
// names each, and nothing outside the source reaches the archive.
func TestImportNeverFollowsLinks(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "etc")
	impTree(t, outside, map[string]string{
		"shadow":      "root:SECRET-SHADOW:19000:0:99999:7:::\n",
		"passwd.eml":  "Subject: SECRET-EML\n\nfrom outside\n",
		"spool.mbox":  "From a Mon Mar  4 05:06:07 2019\nSubject: SECRET-MBOX\n\nx\n",
		"md/cur/1.x":  "Subject: SECRET-MAILDIR\n\n",
		"md/new/":     "",
		"dir/1.eml":   "Subject: SECRET-DIR\n\n",
		"kw":          "0 SECRET-KEYWORD\n",
		"cur/2.y:2,S": "Subject: SECRET-CUR\n\n",
	}, t0)
	src := filepath.Join(base, "src")
	impTree(t, src, map[string]string{
		"box/a.eml":                    "Subject: good\n\nkept\n",
		"box/shadow.eml":               "->" + filepath.Join(outside, "shadow"),
		"box/passwd.eml":               "->" + filepath.Join(outside, "passwd.eml"),
		"spool.mbox":                   "->" + filepath.Join(outside, "spool.mbox"),
		"Maildir/cur/1.a:2,S":          "Subject: maildir good\n\n",
		"Maildir/new/":                 "",
		"Maildir/cur/9.z:2,S":          "->" + filepath.Join(outside, "shadow"),
		"Maildir/.Evil/cur":            "->" + filepath.Join(outside, "cur"),
		"Maildir/.Evil/new/":           "",
		"Maildir/.Kw/cur/1.k:2,a":      "Subject: kw\n\n",
		"Maildir/.Kw/new/":             "",
		"Maildir/.Kw/dovecot-keywords": "->" + filepath.Join(outside, "kw"),
		"linked-maildir":               "->" + filepath.Join(outside, "md"),
		"linked-dir":                   "->" + filepath.Join(outside, "dir"),
		"loop":                         "->" + src,
		"sub/up":                       "->..",
		"sub/x.eml":                    "Subject: sub\n\n",
	}, t0)

	for _, from := range []string{src, src + "/"} {
		t.Run(filepath.Base(from), func(t *testing.T) {
			repo := impRepo(t)
			var ev impEvents
			res := Import(context.Background(), repo, &ImportOptions{Account: "x", From: from}, &ev)
			if res.Fatal != nil {
				t.Fatalf("Import() fatal = %v", res.Fatal)
			}
			places := impPlaces(t, repo, "x")
			for _, p := range places {
				if strings.Contains(p.raw, "SECRET") || strings.Contains(p.flags, "SECRET") {
					t.Errorf("archived from outside the source: %s %q flags %q", p.folder, p.raw, p.flags)
				}
			}
			if len(places) != 4 {
				t.Errorf("imported %d messages (%v), want 4 (a.eml, maildir good, kw, sub)", len(places), places)
			}
			warnings := strings.Join(ev.texts(progress.Warning), "\n")
			for _, name := range []string{"box/shadow.eml", "box/passwd.eml", "spool.mbox", "Maildir/cur/9.z:2,S",
				"Maildir/.Evil/cur", "Maildir/.Kw/dovecot-keywords", "linked-maildir", "linked-dir", "loop", "sub/up"} {
				if !strings.Contains(warnings, filepath.Join(src, name)) {
					t.Errorf("no warning names %s; warnings:\n%s", name, warnings)
				}
			}
			if !strings.Contains(warnings, "symbolic link not followed") {
				t.Errorf("warnings do not say why:\n%s", warnings)
			}
			if len(res.Errors) != 0 {
				t.Errorf("errors = %v, want none (links are warnings)", res.Errors)
			}
		})
	}
}

// TestImportLinkedFrom: --from may itself be a link (given without a
// trailing slash), resolved once; a loop of links as --from ends with an
// error.
func TestImportLinkedFrom(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "real")
	impTree(t, src, map[string]string{"cur/1.a:2,S": "Subject: one\n\n", "new/": "", ".Sent/cur/2.b:2,S": "Subject: two\n\n",
		".Sent/new/": ""}, t0)
	link := filepath.Join(base, "Maildir")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	link2 := filepath.Join(base, "Maildir2")
	if err := os.Symlink(link, link2); err != nil {
		t.Fatal(err)
	}
	repo := impRepo(t)
	ctx := context.Background()
	res := Import(ctx, repo, &ImportOptions{Account: "x", From: link2}, nil)
	if res.Fatal != nil || res.New != 2 {
		t.Fatalf("Import(link to a link) = %d new, fatal %v; want 2, nil", res.New, res.Fatal)
	}
	// The same source by its real path: the same keys, nothing new.
	res = Import(ctx, repo, &ImportOptions{Account: "x", From: src}, nil)
	if res.Fatal != nil || res.New+res.Dup != 0 || res.Known != 2 {
		t.Errorf("Import(real path) = %d new, %d dup, %d known, fatal %v; want 0, 0, 2", res.New, res.Dup, res.Known, res.Fatal)
	}

	l1, l2 := filepath.Join(base, "l1"), filepath.Join(base, "l2")
	os.Symlink(l2, l1)
	os.Symlink(l1, l2)
	res = Import(ctx, repo, &ImportOptions{Account: "x", From: l1}, nil)
	if res.Fatal == nil || !strings.Contains(res.Fatal.Error(), "l1") {
		t.Errorf("Import(loop) fatal = %v, want an error naming l1", res.Fatal)
	}
}
