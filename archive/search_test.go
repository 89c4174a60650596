package archive

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/progress"
)

type searchFixture struct {
	repo *Repo
	ids  map[string]int64 // subject -> place id
}

func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	ctx := context.Background()
	repo, err := Open(ctx, t.TempDir(), &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	fx := &searchFixture{repo: repo, ids: map[string]int64{}}
	work, _ := repo.Account(ctx, "work", "imap")
	home, _ := repo.Account(ctx, "home", "pop3")
	inbox, _ := repo.Folder(ctx, work, "INBOX")
	arch, _ := repo.Folder(ctx, work, "Archive/2019")
	pop, _ := repo.Folder(ctx, home, "INBOX")
	msgs := []struct {
		f       *Folder
		subject string
		from    string
		date    string
		body    string
		flags   []string
		gone    string
	}{
		{inbox, "Quarterly invoice", "Billing <billing@acme.example>", "Mon, 02 Mar 2020 10:00:00 +0000", "Please pay the invoice.", []string{`\Seen`}, ""},
		{inbox, "Lunch?", "Bob <bob@example.org>", "Tue, 03 Mar 2020 12:00:00 +0000", "Pizza at noon", []string{`\Flagged`}, ""},
		{arch, "Old report", "Carol <carol@example.org>", "Fri, 01 Feb 2019 09:00:00 +0000", "The report is attached.", nil, GoneCleanup},
		{arch, "Expunged note", "Carol <carol@example.org>", "Sat, 02 Feb 2019 09:00:00 +0000", "deleted by the user", nil, GoneExpunged},
		{pop, "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "Dörte <doerte@example.de>", "Wed, 04 Mar 2020 08:00:00 +0100", "<html><body><p>Schöne Grüße aus Köln</p></body></html>", nil, GonePOP3Deleted},
	}
	for i, m := range msgs {
		ct := "text/plain; charset=utf-8"
		if m.body[0] == '<' {
			ct = "text/html; charset=utf-8"
		}
		raw := fmt.Sprintf("From: %s\r\nTo: alice@example.org\r\nSubject: %s\r\nDate: %s\r\nContent-Type: %s\r\n\r\n%s\r\n", m.from, m.subject, m.date, ct, m.body)
		h, _, err := repo.PutMessage(ctx, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		pm := &Message{Folder: m.f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: h, Size: int64(len(raw)), Flags: m.flags}
		if m.f == pop {
			pm.UIDValidity, pm.UID, pm.UIDL = 0, 0, fmt.Sprintf("u%d", i)
		}
		if err := repo.AddMessage(ctx, pm); err != nil {
			t.Fatal(err)
		}
		if m.gone != "" {
			if pm.UIDL != "" {
				repo.MarkGone(ctx, m.f.ID, 0, nil, []string{pm.UIDL}, m.gone, time.Now())
			} else {
				repo.MarkGone(ctx, m.f.ID, 1, []uint32{pm.UID}, nil, m.gone, time.Now())
			}
		}
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := repo.catchUpSearch(ctx); err != nil { // as a backup's Close does
		t.Fatal(err)
	}
	for e, err := range repo.Messages(ctx, Query{IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		fx.ids[e.Header.Subject] = e.ID
	}
	return fx
}

func (fx *searchFixture) search(t *testing.T, query string, deleted bool) []string {
	t.Helper()
	terms, err := ParseSearch(query)
	if err != nil {
		t.Fatalf("ParseSearch(%q): %v", query, err)
	}
	hits, err := fx.repo.Search(context.Background(), SearchQuery{Terms: terms, IncludeDeleted: deleted})
	if err != nil {
		t.Fatalf("Search(%q): %v", query, err)
	}
	var out []string
	for _, h := range hits {
		out = append(out, h.Subject)
	}
	return out
}

func TestSearch(t *testing.T) {
	fx := newSearchFixture(t)
	for _, tc := range []struct {
		query   string
		deleted bool
		want    []string
	}{
		{"invoice", false, []string{"Quarterly invoice"}},
		{"from:carol", false, []string{"Old report"}}, // cleaned up: still found; the expunged one is not
		{"from:carol", true, []string{"Expunged note", "Old report"}},
		{"subject:report from:carol@example.org", false, []string{"Old report"}},
		{"grüße", false, []string{"Grüße"}}, // RFC 2047 subject, HTML body, taken off the POP3 server
		{"köln", false, []string{"Grüße"}},
		{"koln", false, []string{"Grüße"}}, // diacritics folded
		{"body:schöne", false, []string{"Grüße"}},
		{"is:flagged", false, []string{"Lunch?"}},
		{"is:seen", false, []string{"Quarterly invoice"}},
		{"account:home", false, []string{"Grüße"}},
		{"folder:archive/*", false, []string{"Old report"}},
		{"folder:INBOX", false, []string{"Grüße", "Lunch?", "Quarterly invoice"}},
		{"after:2020-03-03 before:2020-03-04", false, []string{"Lunch?"}},
		{"before:2020-01-01", false, []string{"Old report"}},
		{"-invoice account:work", false, []string{"Lunch?", "Old report"}},
		{"pizza -lunch", false, nil},
		{`"the invoice"`, false, []string{"Quarterly invoice"}},
		{"inv*", false, []string{"Quarterly invoice"}},
		{"larger:1M", false, nil},
		{"to:alice", false, []string{"Grüße", "Lunch?", "Quarterly invoice", "Old report"}},
		{"has:attachment", false, nil},
		{"AND OR NOT", false, nil}, // operators are words, not syntax
		{"@@@", false, nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got := fx.search(t, tc.query, tc.deleted)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Search(%q) = %q, want %q", tc.query, got, tc.want)
			}
		})
	}
	if p, err := fx.repo.Place(context.Background(), fx.ids["Old report"]); err != nil || p.FolderName != "Archive/2019" {
		t.Errorf("Place(%d) = %+v, %v", fx.ids["Old report"], p, err)
	}
}

func TestParseSearchErrors(t *testing.T) {
	for _, q := range []string{"subjet:x", "before:yesterday", "larger:lots", "is:urgent", "has:pdf", `"open`, "from:"} {
		if _, err := ParseSearch(q); err == nil {
			t.Errorf("ParseSearch(%q) = nil error", q)
		}
	}
	terms, err := ParseSearch(`see http://example.org -"two words" subject:"a b"`)
	if err != nil || len(terms) != 4 || terms[1].Value != "http://example.org" || !terms[2].Neg || terms[2].Value != "two words" || terms[3].Key != "subject" {
		t.Errorf("ParseSearch() = %+v, %v", terms, err)
	}
}

// TestBuildSearchIndex: an archive whose messages were stored before the
// index existed gets them all indexed, once.
func TestBuildSearchIndex(t *testing.T) {
	fx := newSearchFixture(t)
	ctx := context.Background()
	// Forget the index, as in an archive that predates it.
	for _, q := range []string{`DELETE FROM search.search_docs`, `INSERT INTO search.search_fts(search_fts) VALUES('delete-all')`} {
		_, err := fx.repo.indexer.db.Exec(q)
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, err := fx.repo.SearchUnindexed(ctx); err != nil || n != 5 {
		t.Fatalf("SearchUnindexed() = %d, %v; want 5", n, err)
	}
	rd, err := Open(ctx, fx.repo.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	terms, _ := ParseSearch("invoice")
	if got, err := rd.Search(ctx, SearchQuery{Terms: terms}); err != nil || len(got) != 0 {
		t.Fatalf("a reader's search before the build = %v, %v; want nothing", got, err)
	}
	var calls []string
	rep := progress.Func(func(e progress.Event) { calls = append(calls, fmt.Sprintf("%s %d", e.Kind, e.Total)) })
	if err := fx.repo.BuildSearchIndex(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if n, _ := fx.repo.SearchUnindexed(ctx); n != 0 || len(calls) != 7 || calls[0] != "folder-start 5" {
		t.Errorf("after the build: %d unindexed, progress %v", n, calls)
	}
	if got := fx.search(t, "from:carol", true); len(got) != 2 {
		t.Errorf("search after the build = %q", got)
	}
}
