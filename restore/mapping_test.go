package restore

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/config"
)

func TestMapFolder(t *testing.T) {
	plain := &layout{delim: '/', special: map[string]string{`\Sent`: "Sent", `\Trash`: "Trash"},
		exists: map[string]bool{"INBOX": true, "Sent": true, "Trash": true}}
	courier := &layout{prefix: "INBOX.", delim: '.', special: map[string]string{`\Sent`: "INBOX.Sent Items", `\Drafts`: "INBOX.Drafts"},
		exists: map[string]bool{"INBOX": true, "INBOX.Sent Items": true, "INBOX.Drafts": true}}
	flat := &layout{special: map[string]string{}, exists: map[string]bool{"INBOX": true}}
	acct := &config.Account{FolderMap: map[string]string{
		"INBOX/Receipts": "Finance/Receipts",
		"Projects/*":     "Archive/Projects/*",
		"Old":            "INBOX",
	}}
	for _, tc := range []struct {
		name   string
		lay    *layout
		src    sourceFolder
		prefix string
		guess  bool
		want   string
		how    string
		use    string
		note   string
	}{
		{"inbox any case", plain, sourceFolder{Name: "inbox", Delim: '.'}, "", false, "INBOX", "inbox", "", ""},
		{"plain to plain", plain, sourceFolder{Name: "Archive/2019", Delim: '/'}, "", false, "Archive/2019", "name", "", ""},
		{"dot source to slash target", plain, sourceFolder{Name: "Archive.2019", Delim: '.'}, "", false, "Archive/2019", "name", "", ""},
		{"courier source prefix stripped", plain, sourceFolder{Name: "INBOX.Archive.2019", Delim: '.'}, "INBOX.", false, "Archive/2019", "name", "", ""},
		{"plain to courier", courier, sourceFolder{Name: "Archive/2019", Delim: '/'}, "", false, "INBOX.Archive.2019", "name", "", ""},
		{"sub-inbox to courier", courier, sourceFolder{Name: "INBOX/Lists", Delim: '/'}, "", false, "INBOX.Lists", "name", "", ""},
		{"sent by attribute", courier, sourceFolder{Name: "Gesendet", Delim: '/', SpecialUse: `\Sent`}, "", false, "INBOX.Sent Items", "special-use", `\Sent`, ""},
		{"sent by name when the source has no roles", plain, sourceFolder{Name: "Sent Messages", Delim: '/'}, "", true, "Sent", "special-use", `\Sent`, ""},
		{"no guessing when the source has roles", plain, sourceFolder{Name: "Sent Messages", Delim: '/'}, "", false, "Sent Messages", "name", "", ""},
		{"role missing on target: created with it", plain, sourceFolder{Name: "Junk", Delim: '/', SpecialUse: `\Junk`}, "", false, "Junk", "name", `\Junk`, ""},
		{"folder_map exact", plain, sourceFolder{Name: "INBOX/Receipts", Delim: '/'}, "", false, "Finance/Receipts", "folder_map", "", ""},
		{"folder_map exact, other delimiter", courier, sourceFolder{Name: "INBOX.Receipts", Delim: '.'}, "", false, "INBOX.Finance.Receipts", "folder_map", "", ""},
		{"folder_map subtree root", plain, sourceFolder{Name: "Projects", Delim: '/'}, "", false, "Archive/Projects", "folder_map", "", ""},
		{"folder_map subtree child", plain, sourceFolder{Name: "Projects/Q3/Report", Delim: '/'}, "", false, "Archive/Projects/Q3/Report", "folder_map", "", ""},
		{"folder_map on courier source without prefix", plain, sourceFolder{Name: "INBOX.Projects.X", Delim: '.'}, "INBOX.", false, "Archive/Projects/X", "folder_map", "", ""},
		{"folder_map into INBOX", plain, sourceFolder{Name: "Old", Delim: '/'}, "", false, "INBOX", "folder_map", "", ""},
		{"target delimiter inside a level", courier, sourceFolder{Name: "v1.2/notes", Delim: '/'}, "", false, "INBOX.v1_2.notes", "name", "", "v1.2"},
		{"wildcards and controls", plain, sourceFolder{Name: "a*b%c\x01d", Delim: '/'}, "", false, "a_b_c_d", "name", "", "a*b"},
		{"empty and dot levels", plain, sourceFolder{Name: "x//..", Delim: '/'}, "", false, "x/_/__", "name", "", "level"},
		{"flat target", flat, sourceFolder{Name: "Archive/2019", Delim: '/'}, "", false, "Archive_2019", "name", "", "no folder hierarchy"},
		{"non-ASCII kept", plain, sourceFolder{Name: "Entwürfe/Überblick", Delim: '/'}, "", false, "Entwürfe/Überblick", "name", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.lay.mapFolder(tc.src, tc.prefix, tc.guess, acct.MapFolder)
			if m.Target != tc.want || m.How != tc.how || m.SpecialUse != tc.use {
				t.Errorf("mapFolder(%q) = %q (%s, %q), want %q (%s, %q)", tc.src.Name, m.Target, m.How, m.SpecialUse, tc.want, tc.how, tc.use)
			}
			if notes := strings.Join(m.Notes, "; "); (tc.note == "") != (notes == "") || !strings.Contains(notes, tc.note) {
				t.Errorf("mapFolder(%q) notes = %q, want mention of %q", tc.src.Name, notes, tc.note)
			}
		})
	}
}

func TestSourcePrefixAndRoles(t *testing.T) {
	courier := []sourceFolder{{Name: "INBOX", Delim: '.'}, {Name: "INBOX.Sent", Delim: '.'}, {Name: "INBOX.a.b", Delim: '.'}}
	if got := sourcePrefix(courier); got != "INBOX." {
		t.Errorf("sourcePrefix(courier) = %q, want INBOX.", got)
	}
	mixed := append(courier, sourceFolder{Name: "Other", Delim: '.'})
	if got := sourcePrefix(mixed); got != "" {
		t.Errorf("sourcePrefix(mixed) = %q, want none", got)
	}
	slash := []sourceFolder{{Name: "INBOX", Delim: '/'}, {Name: "INBOX/x", Delim: '/'}}
	if got := sourcePrefix(slash); got != "" {
		t.Errorf("sourcePrefix(INBOX/x) = %q: subfolders of INBOX on a '/' server are real subfolders", got)
	}
	if !guessRoles(courier) || guessRoles([]sourceFolder{{Name: "S", SpecialUse: `\Sent`}}) {
		t.Errorf("guessRoles: want true only without any special-use attribute")
	}
}

func TestStrictName(t *testing.T) {
	l := &layout{delim: '/', special: map[string]string{}, exists: map[string]bool{}}
	for in, want := range map[string]string{
		"Lists/dovecot":  "Restored/Lists/dovecot",
		"a&b/c!d":        "a_b/c_d",
		"Projekt ÄÖÜ/x.": "Projekt ÄÖÜ/x_",
		"!!":             "Folder__",
	} {
		if got := l.strictName(in); got != want {
			t.Errorf("strictName(%q) = %q, want %q", in, got, want)
		}
	}
	c := &layout{prefix: "INBOX.", delim: '.', special: map[string]string{}, exists: map[string]bool{}}
	if got := c.strictName("INBOX.Lists"); got != "INBOX.Restored.Lists" {
		t.Errorf("strictName on a prefixed server = %q", got)
	}
}

func TestFlagPolicy(t *testing.T) {
	dovecot := newFlagPolicy(&imap.SelectData{PermanentFlags: []imap.Flag{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`, `\*`}})
	keep, drop := dovecot.filter([]string{`\Seen`, `\Recent`, `\recent`, "$Label1", "bad(kw", "ok.kw", `\Custom`, "naïve", "a]b", ""})
	if got := flagKey(keep); got != `$Label1 \Seen ok.kw` {
		t.Errorf("kept %q", got)
	}
	if !slices.Equal(drop, []string{`\Recent`, `\recent`, "bad(kw", `\Custom`, "naïve", "a]b"}) {
		t.Errorf("dropped %q", drop)
	}
	strict := newFlagPolicy(&imap.SelectData{PermanentFlags: []imap.Flag{`\Seen`, `\Deleted`, "$Known"}})
	keep, drop = strict.filter([]string{`\Seen`, `\Flagged`, "$Known", "$Other"})
	if flagKey(keep) != `$Known \Seen` || !slices.Equal(drop, []string{`\Flagged`, "$Other"}) {
		t.Errorf("strict: kept %q dropped %q", flagKey(keep), drop)
	}
	// No PERMANENTFLAGS: FLAGS says what exists (RFC 3501 7.1).
	noPerm := newFlagPolicy(&imap.SelectData{Flags: []imap.Flag{`\Seen`, `\Answered`}})
	if keep, _ = noPerm.filter([]string{`\Seen`, `\Draft`, "$x"}); flagKey(keep) != `\Seen` {
		t.Errorf("FLAGS only: kept %q", flagKey(keep))
	}
	add, del := dovecot.flagDiff([]string{`\Seen`, "$Old", "bad(kw"}, []string{`\Seen`, `\Answered`, "$New", `\Recent`})
	if flagKey(add) != `$New \Answered` || flagKey(del) != `$Old` {
		t.Errorf("flagDiff add %q del %q", flagKey(add), flagKey(del))
	}
}

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb\r\nc\n": "a\r\nb\r\nc\r\n",
		"\n":          "\r\n",
		"no newline":  "no newline",
		"cr\ronly":    "cr\ronly",
	} {
		got, n := crlf([]byte(in))
		if string(got) != want || n != strings.Count(want, "\r\n")-strings.Count(in, "\r\n") {
			t.Errorf("crlf(%q) = %q, %d; want %q", in, got, n, want)
		}
	}
	forms := servedForms([]byte("a\nb\x00"))
	if len(forms) != 3 || !bytes.Equal(forms[2], []byte("a\r\nb\x80")) {
		t.Errorf("servedForms = %q", forms)
	}
}
