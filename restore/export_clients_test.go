package restore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/restore"
)

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestExportDovecotReadsMaildir: a real Dovecot serves an exported
// Maildir tree as the archive holds it: the same folders, counts, flags,
// INTERNALDATEs, and every message's SHA-256.
//
// Byte-exact here means: the files hold the archived bytes exactly
// (TestExportFiles), and Dovecot serves them as it serves any Maildir
// file: bare LF as CRLF and NUL as 0x80 (dovecot.ServedIMAP). Messages
// archived from a Dovecot account come back over IMAP identical to what
// that account sent, since they already had CRLF line ends.
func TestExportDovecotReadsMaildir(t *testing.T) {
	srv := dovecot.Shared(t)
	ctx := context.Background()
	extra := []place{
		{folder: "john.doe", raw: []byte("Subject: dot in the folder name\r\n\r\nx\r\n"), date: time.Date(2022, 2, 2, 2, 2, 2, 0, time.UTC)},
		{folder: "R&D/Q3 report", raw: []byte("Subject: ampersand, space, level\r\n\r\ny\r\n"), flags: []string{"Work", `\Seen`},
			date: time.Date(2022, 2, 3, 2, 2, 2, 0, time.UTC)},
	}
	repo, places := exportArchive(t, 80, extra...)
	out := t.TempDir()
	if res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: mailfmt.Maildir, Out: out}, nil); !res.OK() {
		t.Fatal(res.Err())
	}

	name, pass := srv.NewUser(t)
	maildir := filepath.Join(srv.Dir, "mail", name, "Maildir")
	if err := copyTree(out, maildir); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(dovecot.MailUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	filepath.WalkDir(filepath.Dir(maildir), func(p string, e fs.DirEntry, err error) error {
		if err == nil {
			os.Lchown(p, uid, gid)
		}
		return nil
	})
	if b, err := srv.Doveadm("force-resync", "-u", name, "*"); err != nil {
		t.Fatalf("doveadm force-resync: %v: %s\n%s", err, b, srv.Log())
	}

	c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(name, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	type msg struct {
		sha, flags string
		date       time.Time
	}
	want := map[string][]msg{}
	for _, p := range present(places) {
		want[p.folder] = append(want[p.folder], msg{sha(dovecot.ServedIMAP(p.raw)), archive.JoinFlags(p.flags), p.date})
	}
	// Dovecot cannot hold a '.' in a Maildir++ folder name: the export
	// writes U+2024, which looks the same (mailfmt.MaildirPath).
	dovecotName := func(folder string) string { return strings.ReplaceAll(folder, ".", "\u2024") }
	for folder, msgs := range want {
		sel, err := c.Select(dovecotName(folder), &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Errorf("EXAMINE %q: %v", folder, err)
			continue
		}
		if int(sel.NumMessages) != len(msgs) {
			t.Errorf("%s: Dovecot shows %d messages, the archive %d", folder, sel.NumMessages, len(msgs))
		}
		var got []msg
		if sel.NumMessages > 0 {
			all, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
				Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
			}).Collect()
			if err != nil {
				t.Fatalf("FETCH %s: %v", folder, err)
			}
			for _, m := range all {
				var flags []string
				for _, f := range m.Flags {
					if !strings.EqualFold(string(f), `\Recent`) {
						flags = append(flags, string(f))
					}
				}
				got = append(got, msg{sha(m.FindBodySection(&imap.FetchItemBodySection{})), archive.JoinFlags(flags), m.InternalDate})
			}
		}
		key := func(m msg) string { return m.sha + " [" + m.flags + "] " + m.date.UTC().Format(time.RFC3339) }
		var g, w []string
		for _, m := range got {
			g = append(g, key(m))
		}
		for _, m := range msgs {
			w = append(w, key(m))
		}
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s over IMAP:\n%s\nwant (from the archive):\n%s", folder, strings.Join(diff(g, w), "\n"), strings.Join(diff(w, g), "\n"))
		}
	}
	// Dovecot lists every exported folder under its own name.
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, b := range boxes {
		listed = append(listed, b.Mailbox)
	}
	for folder := range want {
		if !slices.Contains(listed, dovecotName(folder)) {
			t.Errorf("LIST does not show %q (it shows %q)", dovecotName(folder), listed)
		}
	}
}

// copyTree copies a directory tree, keeping file times (INTERNALDATE).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o600); err != nil {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		return os.Chtimes(target, st.ModTime(), st.ModTime())
	})
}

// pythonReader lists every message of an mbox with Python's mailbox
// module: its From_ line and the SHA-256 of the bytes Python gives.
const pythonReader = `
import hashlib, json, mailbox, sys
box = mailbox.mbox(sys.argv[1], create=False)
for key in box.iterkeys():
    b = box.get_bytes(key)
    print(json.dumps({"from": box.get_message(key).get_from(), "sha": hashlib.sha256(b).hexdigest(), "len": len(b)}))
`

// TestExportPythonReadsMbox: Python's mailbox module reads an exported
// mbox: the same number of messages, the From_ lines mailkeep wrote, and
// the bytes an mboxrd writer leaves for a reader that does not unquote
// (">From " for "From " at the start of a line; Python also keeps the
// newline mailkeep adds after a message that has none).
func TestExportPythonReadsMbox(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: cannot check that Python's mailbox module reads the mbox")
	}
	ctx := context.Background()
	repo, places := exportArchive(t, 60)
	out := t.TempDir()
	if res := restore.Export(ctx, repo, &restore.ExportOptions{Account: "work", Format: mailfmt.Mbox, Out: out}, nil); !res.OK() {
		t.Fatal(res.Err())
	}
	script := filepath.Join(t.TempDir(), "read.py")
	os.WriteFile(script, []byte(pythonReader), 0o644)
	byFolder := map[string][]place{}
	for _, p := range present(places) {
		byFolder[p.folder] = append(byFolder[p.folder], p)
	}
	quote := regexp.MustCompile(`(?m)^(>*From )`)
	for folder, ps := range byFolder {
		path := filepath.Join(out, mailfmt.MboxPath(mailfmt.Folder{Name: folder, Delim: '/'}))
		cmd := exec.Command(python, script, path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("python mailbox on %s: %v\n%s", path, err, stderr.String())
		}
		type pyMsg struct {
			From string `json:"from"`
			Sha  string `json:"sha"`
			Len  int    `json:"len"`
		}
		var got []pyMsg
		sc := bufio.NewScanner(bytes.NewReader(stdout))
		for sc.Scan() {
			var m pyMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		}
		// The archive's order within a folder is by UID, as written.
		slices.SortFunc(ps, func(a, b place) int { return int(a.uid) - int(b.uid) })
		if len(got) != len(ps) {
			t.Errorf("%s: Python reads %d messages, want %d", folder, len(got), len(ps))
			continue
		}
		for i, p := range ps {
			wantFrom := mailfmt.EnvelopeSender(p.raw) + " " + p.date.UTC().Format("Mon Jan _2 15:04:05 2006")
			if got[i].From != wantFrom {
				t.Errorf("%s message %d: From_ line %q, want %q", folder, i, got[i].From, wantFrom)
			}
			lf, _ := mailfmt.ConvertLineEndings(p.raw, mailfmt.LinesLF) // the default for mbox
			content := quote.ReplaceAll(lf, []byte(">$1"))
			content = append(content, '\n')
			if bytes.Equal(content, []byte("\n")) || bytes.HasSuffix(content, []byte("\n\n")) {
				content = content[:len(content)-1] // Python drops the empty line before the next From_
			}
			if got[i].Sha != sha(content) {
				t.Errorf("%s message %d (uid %d): Python's bytes (%d) differ from %q", folder, i, p.uid, got[i].Len, trunc(content))
			}
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}
