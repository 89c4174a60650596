package config

import "testing"

func TestFolderFilterMatch(t *testing.T) {
	tests := []struct {
		name   string
		filter FolderFilter
		folder string
		delim  rune
		want   bool
	}{
		{"empty filter takes all", FolderFilter{}, "Anything/At/All", '/', true},
		{"exact include", FolderFilter{Include: []string{"INBOX"}}, "INBOX", '/', true},
		{"not included", FolderFilter{Include: []string{"INBOX"}}, "Sent", '/', false},
		{"exclude", FolderFilter{Exclude: []string{"Trash"}}, "Trash", '/', false},
		{"exclude is whole-name", FolderFilter{Exclude: []string{"Trash"}}, "Trash/Old", '/', true},
		{"exclude wins over include", FolderFilter{Include: []string{"*"}, Exclude: []string{"Junk"}}, "Junk", '/', false},
		{"star crosses levels", FolderFilter{Include: []string{"Archive*"}}, "Archive/2020/Q1", '/', true},
		{"star matches nothing", FolderFilter{Include: []string{"Archive*"}}, "Archive", '/', true},
		{"percent one level", FolderFilter{Include: []string{"Archive/%"}}, "Archive/2020", '/', true},
		{"percent not two levels", FolderFilter{Include: []string{"Archive/%"}}, "Archive/2020/Q1", '/', false},
		{"percent with dot delimiter", FolderFilter{Include: []string{"Archive/%"}}, "Archive.2020.Q1", '.', false},
		{"slash means the dot delimiter", FolderFilter{Include: []string{"Archive/2020"}}, "Archive.2020", '.', true},
		{"server delimiter in pattern", FolderFilter{Include: []string{"Archive.2020"}}, "Archive.2020", '.', true},
		{"dot is literal on a slash server", FolderFilter{Include: []string{"Archive.2020"}}, "Archive/2020", '/', false},
		{"no delimiter: percent takes all", FolderFilter{Include: []string{"%"}}, "a/b", 0, false},
		{"brackets are literal", FolderFilter{Exclude: []string{"[Gmail]/Spam"}}, "[Gmail]/Spam", '/', false},
		{"brackets are not a class", FolderFilter{Include: []string{"[Gmail]/Spam"}}, "G/Spam", '/', false},
		{"star inside brackets", FolderFilter{Exclude: []string{"[G*]/Trash"}}, "[Google Mail]/Trash", '/', false},
		{"case-sensitive", FolderFilter{Include: []string{"sent"}}, "Sent", '/', false},
		{"INBOX any case in name", FolderFilter{Include: []string{"INBOX"}}, "inbox", '/', true},
		{"INBOX any case in pattern", FolderFilter{Include: []string{"Inbox"}}, "INBOX", '/', true},
		{"INBOX prefix any case", FolderFilter{Include: []string{"INBOX/%"}}, "Inbox.Receipts", '.', true},
		{"INBOXES is not INBOX", FolderFilter{Include: []string{"INBOX*"}}, "inboxes", '/', false},
		{"only the first level is INBOX", FolderFilter{Include: []string{"Lists/INBOX"}}, "Lists/inbox", '/', false},
		{"UTF-8 names", FolderFilter{Include: []string{"Entwürfe*"}}, "Entwürfe/Alt", '/', true},
		{"percent stops at UTF-8 delimiter", FolderFilter{Include: []string{"a%"}}, "aé/b", '/', false},
		{"many stars", FolderFilter{Include: []string{"*a*a*a*a*a*b"}}, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", '/', false},
		{"empty name", FolderFilter{Include: []string{"*"}}, "", '/', true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(tt.folder, tt.delim); got != tt.want {
				t.Errorf("%+v.Match(%q, %q) = %v, want %v", tt.filter, tt.folder, tt.delim, got, tt.want)
			}
		})
	}
}

func TestMapFolder(t *testing.T) {
	a := &Account{FolderMap: map[string]string{
		"Sent":             "Sent Items",
		"Projects/*":       "Archive/Projects/*",
		"Projects/Big/*":   "Big/*",
		"INBOX/Receipts":   "Finance/Receipts",
		"Projects/Special": "Special",
	}}
	tests := []struct {
		name   string
		folder string
		delim  rune
		want   string
		ok     bool
	}{
		{"exact", "Sent", '/', "Sent Items", true},
		{"unmapped", "Drafts", '/', "Drafts", false},
		{"subtree root", "Projects", '/', "Archive/Projects", true},
		{"subtree child", "Projects.A.B", '.', "Archive/Projects/A/B", true},
		{"deepest subtree wins", "Projects/Big/x", '/', "Big/x", true},
		{"exact wins over subtree", "Projects/Special", '/', "Special", true},
		{"INBOX case", "inbox.Receipts", '.', "Finance/Receipts", true},
		{"prefix is not a subtree", "ProjectsX", '/', "ProjectsX", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := a.MapFolder(tt.folder, tt.delim)
			if got != tt.want || ok != tt.ok {
				t.Errorf("MapFolder(%q, %q) = %q, %v; want %q, %v", tt.folder, tt.delim, got, ok, tt.want, tt.ok)
			}
		})
	}
}
