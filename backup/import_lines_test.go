package backup

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
)

// TestImportRecognisesLineEndings: a message exported with LF line ends
// (the Maildir and mbox default) imports as the archived CRLF message, small
// or large, from a Maildir, an mbox or an .eml file; a message whose other
// form is not archived is stored as read; the dry run counts the same.
func TestImportRecognisesLineEndings(t *testing.T) {
	ctx := context.Background()
	small := "Subject: small\r\nFrom: a@example.com\r\n\r\nbody\r\n"
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 5<<10) // 5 MiB, above the in-memory limit
	lf := func(s string) string {
		b, _ := mailfmt.ConvertLineEndings([]byte(s), mailfmt.LinesLF)
		return string(b)
	}
	stranger := "Subject: not archived\n\nnew\n"

	repo := impRepo(t)
	acct, err := repo.Account(ctx, "orig", "imap")
	if err != nil {
		t.Fatal(err)
	}
	f, err := repo.Folder(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var hashes []archive.Hash
	for i, raw := range []string{small, big} {
		h, _, err := repo.PutMessage(ctx, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
		if err := repo.AddMessage(ctx, &archive.Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: h, Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	impTree(t, dir, map[string]string{
		"md/cur/1.a:2,S": lf(small), "md/cur/2.b:2,S": lf(big), "md/cur/3.c:2,S": stranger, "md/new/": "",
		"mbox/x.mbox": "From a@example.com Mon Mar  4 05:06:07 2019\n" + lf(small) + "\n",
		"eml/e/1.eml": lf(small), "eml/e/2.eml": lf(big),
	}, t0)
	for _, src := range []string{"md", "mbox", "eml"} {
		for _, dry := range []bool{true, false} {
			res := Import(ctx, repo, &ImportOptions{Account: "copy-" + src, From: filepath.Join(dir, src), DryRun: dry}, nil)
			wantNew := int64(0)
			if src == "md" {
				wantNew = 1 // the stranger
			}
			if !res.OK() || res.New != wantNew {
				t.Errorf("import %s (dry run %v): %d new, %d dup, %v; want %d new", src, dry, res.New, res.Dup, res.Err(), wantNew)
			}
		}
		for e, err := range repo.Messages(ctx, archive.Query{Account: "copy-" + src}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Hash != hashes[0] && e.Hash != hashes[1] && e.Hash != archive.HashBytes([]byte(stranger)) {
				raw, _ := repo.ReadMessage(ctx, e.Hash)
				t.Errorf("import %s: recorded %s (%d bytes, CRLF %v), not the archived message", src, e.Hash, len(raw), bytes.Contains(raw, []byte("\r\n")))
			}
		}
	}
}
