package mailfmt

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/mutf7"
)

func TestMUTF7(t *testing.T) {
	tests := []struct{ plain, enc string }{
		{"INBOX", "INBOX"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"R&D", "R&-D"},
		{"日本語", "&ZeVnLIqe-"},
		{"Grüße aus Zürich", "Gr&APwA3w-e aus Z&APw-rich"},
		{"emoji🙂", "emoji&2D3eQg-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	}
	for _, tc := range tests {
		t.Run(tc.plain, func(t *testing.T) {
			if got := mutf7.Encode(tc.plain); got != tc.enc {
				t.Errorf("mutf7.Encode(%q) = %q, want %q", tc.plain, got, tc.enc)
			}
			if got, err := mutf7.Decode(tc.enc); err != nil || got != tc.plain {
				t.Errorf("mutf7.Decode(%q) = %q, %v, want %q", tc.enc, got, err, tc.plain)
			}
		})
	}
	for _, bad := range []string{"&", "a&b", "&AGE-", "&Jjo!", "caf\xe9", "&2D0-"} {
		if got, err := mutf7.Decode(bad); err == nil {
			t.Errorf("mutf7.Decode(%q) = %q, want an error", bad, got)
		}
	}
}

func TestEscapeLevel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"INBOX", "INBOX"},
		{"Entwürfe", "Entwürfe"},
		{"a/b", "a%2Fb"},
		{"100%", "100%"},
		{"%41", "%2541"},
		{"%4", "%4"},
		{"cur", "%63ur"},
		{"x.sbd", "x%2Esbd"},
		{".hidden", "%2Ehidden"},
		{"..", "%2E."},
		{"tab\there", "tab%09here"},
		{"caf\xe9", "caf%E9"},
		{"", "%00"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := escapeLevel(tc.in, levelDir, 0)
			if got != tc.want {
				t.Errorf("escapeLevel(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if back := unescapeLevel(got); back != tc.in {
				t.Errorf("unescapeLevel(%q) = %q, want %q", got, back, tc.in)
			}
		})
	}
}

func TestEMLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w := NewEMLWriter(dir)
	d1 := time.Date(2019, 3, 4, 5, 6, 7, 0, time.FixedZone("", -7*3600))
	d0 := d1.Add(-24 * time.Hour)
	adds := []struct {
		folder Folder
		raw    string
		date   time.Time
		id     string
	}{
		{Folder{Name: "INBOX", Delim: '/'}, "second", d1, "12"},
		{Folder{Name: "INBOX", Delim: '/'}, "first", d0, "11"},
		{Folder{Name: "INBOX", Delim: '/'}, "same name", d1, "12"},
		{Folder{Name: "Archive/2019", Delim: '/'}, "archived", d1, "ab12"},
		{Folder{Name: ".dot/a%b", Delim: '/'}, "odd name", d1, "1"},
	}
	for _, a := range adds {
		if _, err := w.Add(a.folder, &Message{Body: strings.NewReader(a.raw), Size: int64(len(a.raw)), Date: a.date, ID: a.id}); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "INBOX"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"2019-03-03T120607Z-11.eml", "2019-03-04T120607Z-12-2.eml", "2019-03-04T120607Z-12.eml"}
	if !slices.Equal(names, want) {
		t.Errorf("INBOX = %q, want %q", names, want)
	}
	boxes, problems, err := Discover(dir, "")
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	var got []string
	for _, b := range boxes {
		if b.Format != EML {
			t.Errorf("%s: format %s", b.Path, b.Format)
		}
		r, _ := b.Open()
		msgs, bodies, _ := readAll(t, r)
		r.Close()
		for i := range msgs {
			got = append(got, b.Name+": "+string(bodies[i]))
			if b.Name == "INBOX" && string(bodies[i]) == "first" && !msgs[i].Date.Equal(d0) {
				t.Errorf("date = %v, want %v", msgs[i].Date, d0)
			}
		}
	}
	wantGot := []string{".dot/a%b: odd name", "Archive/2019: archived", "INBOX: first", "INBOX: same name", "INBOX: second"}
	slices.Sort(got)
	if !slices.Equal(got, wantGot) {
		t.Errorf("read back %q, want %q", got, wantGot)
	}
}

func TestIMAPBackup(t *testing.T) {
	// Build the files as imap-backup does: each message serialized as
	// "From SENDER DATE\n" + quoted body (+ "\n" if missing) + "\n".
	serialize := func(body string, noSpace bool) string {
		q := body
		for _, pre := range []string{">>From", ">From", "From"} {
			if !noSpace {
				pre += " "
			}
			q = strings.ReplaceAll(q, "\n"+pre, "\n>"+pre)
		}
		if !strings.HasSuffix(q, "\n") {
			q += "\n"
		}
		return "From a@example.com Mon Mar  4 05:06:07 2019\n" + q + "\n"
	}
	bodies := []string{"Subject: one\n\nhello\nFrom here\n", "From x Mon Mar  4 05:06:07 2019\nSubject: two\n\nFromage\n", "Subject: three\n\n"}
	write := func(t *testing.T, version any, noSpace bool, flags [][]string) string {
		dir := t.TempDir()
		var mbox bytes.Buffer
		var msgs []map[string]any
		for i, b := range bodies {
			s := serialize(b, noSpace)
			msgs = append(msgs, map[string]any{"uid": 10 + i, "offset": mbox.Len(), "length": len(s), "flags": flags[i]})
			mbox.WriteString(s)
		}
		os.MkdirAll(filepath.Join(dir, "Archive"), 0o755)
		os.WriteFile(filepath.Join(dir, "Archive", "2019.mbox"), mbox.Bytes(), 0o644)
		meta, _ := json.Marshal(map[string]any{"version": version, "uid_validity": 99, "messages": msgs})
		os.WriteFile(filepath.Join(dir, "Archive", "2019.imap"), meta, 0o644)
		return dir
	}
	flags := [][]string{{"Seen"}, {"Flagged", "Answered", "$Forwarded"}, {"Recent"}}
	wantFlags := [][]string{{`\Seen`}, {`\Flagged`, `\Answered`, "$Forwarded"}, nil}
	for _, tc := range []struct {
		name    string
		version any
		noSpace bool
	}{{"v3.1", 3.1, false}, {"v3", 3, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, tc.version, tc.noSpace, flags)
			boxes, problems, err := Discover(dir, "")
			if err != nil || len(problems) > 0 || len(boxes) != 1 || boxes[0].Format != IMAPBackup || boxes[0].Name != "Archive/2019" {
				t.Fatalf("Discover() = %+v, %v, %v", boxes, problems, err)
			}
			r, _ := boxes[0].Open()
			msgs, got, problems := readAll(t, r)
			r.Close()
			if len(problems) > 0 || len(got) != 3 {
				t.Fatalf("read %d messages, problems %v", len(got), problems)
			}
			for i := range got {
				want := bodies[i]
				if string(got[i]) != want {
					t.Errorf("message %d = %q, want %q", i, got[i], want)
				}
				if !sameSet(msgs[i].Flags, wantFlags[i]) || msgs[i].UID != uint32(10+i) || msgs[i].UIDValidity != 99 {
					t.Errorf("message %d flags %v uid %d/%d", i, msgs[i].Flags, msgs[i].UIDValidity, msgs[i].UID)
				}
				if wantKey := "imap-backup:Archive/2019/99/" + string(rune('0'+i/10+1)) + string(rune('0'+i%10)); msgs[i].Key != wantKey {
					t.Errorf("message %d key = %q, want %q", i, msgs[i].Key, wantKey)
				}
			}
		})
	}
	t.Run("offset outside the file", func(t *testing.T) {
		dir := write(t, 3.1, false, flags)
		os.Truncate(filepath.Join(dir, "Archive", "2019.mbox"), 80)
		r, err := OpenIMAPBackup(filepath.Join(dir, "Archive", "2019.mbox"), "k")
		if err != nil {
			t.Fatal(err)
		}
		_, got, problems := readAll(t, r)
		r.Close()
		if len(got) != 1 || len(problems) != 2 || !strings.Contains(problems[0].Error(), "uid 11") {
			t.Errorf("read %d, problems %v; want 1 message and 2 problems naming uids 11, 12", len(got), problems)
		}
	})
	t.Run("unknown metadata", func(t *testing.T) {
		dir := write(t, 7, false, flags)
		r, _ := OpenIMAPBackup(filepath.Join(dir, "Archive", "2019.mbox"), "k")
		msgs, got, problems := readAll(t, r)
		r.Close()
		// As a plain mbox the unquoted From_ line that starts message
		// two splits it: 4 messages.
		if len(problems) != 1 || !strings.Contains(problems[0].Error(), "2019.imap") || len(got) != 4 || msgs[0].Key != "" {
			t.Errorf("read %d, problems %v; want a problem naming 2019.imap and 4 messages read as plain mbox", len(got), problems)
		}
	})
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel, content string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if strings.HasSuffix(rel, "/") {
			os.MkdirAll(p, 0o755)
			return
		}
		os.WriteFile(p, []byte(content), 0o644)
	}
	from := "From a Mon Mar  4 05:06:07 2019\nS: x\n\n"
	for _, md := range []string{"Maildir", "Maildir/.Sent", "Maildir/.Archive.2019", "Maildir/.Entw&APw-rfe", "mbsync/INBOX", "mbsync/Lists/dovecot"} {
		mk(md+"/cur/", "")
		mk(md+"/new/", "")
		mk(md+"/tmp/", "")
	}
	mk("Maildir/dovecot-uidlist", "3 V1 N2\n")
	mk("Maildir/subscriptions", "Sent\n")
	mk("mboxes/INBOX", from)
	mk("mboxes/Archive.sbd/2019", from)
	mk("mboxes/Sent.mbox", from)
	mk("mboxes/Lists/dovecot.mbox", from)
	mk("mboxes/empty.mbox", "")
	mk("mboxes/INBOX.msf", "junk")
	mk("mboxes/notes.txt", "not mail")
	mk("eml/Receipts/2019-01-01T000000Z-1.eml", "S: x\n\n")
	mk("eml/Receipts/Sub/2019-01-01T000000Z-2.eml", "S: x\n\n")
	mk("ib/INBOX.mbox", from)
	mk("ib/INBOX.imap", `{"version":3.1,"uid_validity":1,"messages":[]}`)
	mk("bad\xffname/cur/", "")
	mk("bad\xffname/new/", "")

	boxes, problems, err := Discover(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range boxes {
		rel, _ := filepath.Rel(dir, b.Path)
		got = append(got, string(b.Format)+" "+b.Name+" <- "+rel)
	}
	// Names are relative to the root given: here the test directory.
	want := []string{
		"eml eml/Receipts <- eml/Receipts",
		"eml eml/Receipts/Sub <- eml/Receipts/Sub",
		"imap-backup ib/INBOX <- ib/INBOX.mbox",
		"maildir Maildir <- Maildir",
		"maildir Maildir/Archive/2019 <- Maildir/.Archive.2019",
		"maildir Maildir/Entwürfe <- Maildir/.Entw&APw-rfe",
		"maildir Maildir/Sent <- Maildir/.Sent",
		"maildir bad%FFname <- bad\xffname",
		"maildir mbsync/INBOX <- mbsync/INBOX",
		"maildir mbsync/Lists/dovecot <- mbsync/Lists/dovecot",
		"mbox mboxes/Archive/2019 <- mboxes/Archive.sbd/2019",
		"mbox mboxes/INBOX <- mboxes/INBOX",
		"mbox mboxes/Sent <- mboxes/Sent.mbox",
		"mbox mboxes/Lists/dovecot <- mboxes/Lists/dovecot.mbox",
		"mbox mboxes/empty <- mboxes/empty.mbox",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Discover() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "not valid UTF-8") {
		t.Errorf("problems = %v, want one about the name that is not UTF-8", problems)
	}

	t.Run("roots", func(t *testing.T) {
		for _, tc := range []struct {
			root string
			want []string
		}{
			{"Maildir", []string{"Archive/2019", "Entwürfe", "INBOX", "Sent"}},
			{"mbsync", []string{"INBOX", "Lists/dovecot"}},
			{"mboxes", []string{"Archive/2019", "INBOX", "Lists/dovecot", "Sent", "empty"}},
			{"eml", []string{"Receipts", "Receipts/Sub"}},
			{"eml/Receipts", []string{"Receipts", "Sub"}},
			{"ib", []string{"INBOX"}},
		} {
			boxes, _, err := Discover(filepath.Join(dir, tc.root), "")
			var names []string
			for _, b := range boxes {
				names = append(names, b.Name)
			}
			if err != nil || !slices.Equal(names, tc.want) {
				t.Errorf("Discover(%s) = %q, %v, want %q", tc.root, names, err, tc.want)
			}
		}
	})
	t.Run("only maildir", func(t *testing.T) {
		boxes, _, _ := Discover(dir, Maildir)
		for _, b := range boxes {
			if b.Format != Maildir {
				t.Errorf("Discover(maildir) found %s %s", b.Format, b.Path)
			}
		}
		if len(boxes) != 7 {
			t.Errorf("Discover(maildir) found %d, want 7", len(boxes))
		}
	})
	t.Run("single files", func(t *testing.T) {
		for _, tc := range []struct{ rel, want string }{
			{"mboxes/Sent.mbox", "mbox Sent"},
			{"mboxes/INBOX", "mbox INBOX"},
			{"eml/Receipts/2019-01-01T000000Z-1.eml", "eml 2019-01-01T000000Z-1"},
			{"ib/INBOX.mbox", "imap-backup INBOX"},
		} {
			boxes, _, err := Discover(filepath.Join(dir, tc.rel), "")
			if err != nil || len(boxes) != 1 || string(boxes[0].Format)+" "+boxes[0].Name != tc.want {
				t.Errorf("Discover(%s) = %v, %v, want %s", tc.rel, boxes, err, tc.want)
			}
		}
		if _, _, err := Discover(filepath.Join(dir, "mboxes/notes.txt"), ""); err == nil || !strings.Contains(err.Error(), "notes.txt") {
			t.Errorf("Discover(notes.txt) error = %v, want one naming the file", err)
		}
	})
}
