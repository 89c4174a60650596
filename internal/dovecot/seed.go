package dovecot

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/mutf7"
)

// Message is one message for Seed.
type Message struct {
	// Raw is written to the Maildir file as is. Dovecot serves it with
	// bare LF turned into CRLF (and, in IMAP, NUL into 0x80): see
	// ServedIMAP and ServedPOP3.
	Raw []byte
	// Flags are IMAP flags (\Seen, \Answered, \Flagged, \Deleted, \Draft)
	// and keywords ($Forwarded, Work, ...); at most 26 keywords a folder.
	// \Recent is ignored.
	Flags []string
	// Date becomes INTERNALDATE (the file's mtime); zero means now.
	Date time.Time
}

// ServedIMAP returns the bytes Dovecot sends in IMAP for a seeded
// message (BODY[], RFC822.SIZE counts them): every LF not preceded by CR
// becomes CRLF and every NUL becomes 0x80; CRLF, lone CR, 8-bit bytes and
// a missing final newline stay as they are. (Measured on Dovecot 2.3.)
func ServedIMAP(raw []byte) []byte { return served(raw, 0x80) }

// ServedPOP3 returns the bytes of a seeded message in POP3's RETR, once
// dot-stuffing is undone: like ServedIMAP, except that NUL stays NUL.
func ServedPOP3(raw []byte) []byte { return served(raw, 0) }

func served(raw []byte, nul byte) []byte {
	out := make([]byte, 0, len(raw)+bytes.Count(raw, []byte{'\n'}))
	for i, c := range raw {
		switch {
		case c == '\n' && (i == 0 || raw[i-1] != '\r'):
			out = append(out, '\r', '\n')
		case c == 0:
			out = append(out, nul)
		default:
			out = append(out, c)
		}
	}
	return out
}

var seedSeq atomic.Int64

// Seed appends msgs to a user's folder by writing Maildir files directly
// (flags in the file names, INTERNALDATE as mtime; much faster than
// APPEND, and no IMAP code of ours involved), then has Dovecot index the
// folder and subscribes it. The folder is named as IMAP shows it
// ("INBOX", "Archive/2019", "Entwürfe"; with NamespaceCourier
// "INBOX.Archive.2019") and is created if missing. Seeding while clients
// are connected is fine: they see new mail as after a delivery.
func (s *Server) Seed(tb testing.TB, user, folder string, msgs []Message) {
	tb.Helper()
	if err := s.seed(user, folder, msgs); err != nil {
		tb.Fatalf("dovecot: seed %s %q: %v\n%s", user, folder, err, s.Log())
	}
}

func (s *Server) seed(user, folder string, msgs []Message) error {
	s.mu.Lock()
	_, known := s.passwords[user]
	s.mu.Unlock()
	if !known {
		return fmt.Errorf("unknown user (not in the passwd-file)")
	}
	rel, err := s.maildirName(folder)
	if err != nil {
		return err
	}
	root := filepath.Join(s.home(user), "Maildir")
	dir := filepath.Join(root, rel)
	if err := s.makeMaildir(root, dir); err != nil {
		return err
	}
	keywords, err := readKeywords(dir)
	if err != nil {
		return err
	}
	before := len(keywords)
	names := make([]string, len(msgs))
	for i, m := range msgs {
		letters, err := flagLetters(m.Flags, &keywords)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		date := m.Date
		if date.IsZero() {
			date = time.Now()
		}
		names[i] = fmt.Sprintf("%d.M%dP%dQ%d.mailkeep,S=%d:2,%s",
			date.Unix(), date.Nanosecond()/1000, os.Getpid(), seedSeq.Add(1), len(m.Raw), letters)
	}
	if len(keywords) != before {
		if err := s.writeKeywords(dir, keywords); err != nil {
			return err
		}
	}
	for i, m := range msgs {
		if err := s.writeMessage(dir, names[i], m); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return s.index(user, folder, dir)
}

// maildirName maps an IMAP folder name to its Maildir++ directory below
// the Maildir root: "" for INBOX, ".Archive.2019" for Archive/2019, each
// level in modified UTF-7.
func (s *Server) maildirName(folder string) (string, error) {
	if strings.EqualFold(folder, "INBOX") {
		return "", nil
	}
	name := folder
	if s.Prefix != "" {
		if !strings.HasPrefix(name, s.Prefix) {
			return "", fmt.Errorf("folder outside the namespace: use %q", s.Prefix+folder)
		}
		name = strings.TrimPrefix(name, s.Prefix)
	}
	var parts []string
	for _, p := range strings.Split(name, string(s.Delimiter)) {
		if p == "" || strings.ContainsAny(p, "./") {
			return "", fmt.Errorf("folder name level %q: empty, or holds '.' or '/' (Maildir++ cannot store it)", p)
		}
		parts = append(parts, mutf7.Encode(p))
	}
	return "." + strings.Join(parts, "."), nil
}

// makeMaildir creates cur/new/tmp (and, for a folder, the maildirfolder
// marker), all owned by the mail user.
func (s *Server) makeMaildir(root, dir string) error {
	paths := []string{root, dir}
	for _, sub := range []string{"cur", "new", "tmp"} {
		paths = append(paths, filepath.Join(dir, sub))
	}
	if dir != root {
		paths = append(paths, filepath.Join(root, "cur"), filepath.Join(root, "new"), filepath.Join(root, "tmp"))
	}
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		if err := os.Chown(p, s.mailUID, s.mailGID); err != nil {
			return err
		}
	}
	if dir != root {
		marker := filepath.Join(dir, "maildirfolder")
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			return err
		}
		return os.Chown(marker, s.mailUID, s.mailGID)
	}
	return nil
}

// writeMessage follows the Maildir delivery protocol: write into tmp/,
// then rename into cur/, so Dovecot never sees a partial file.
func (s *Server) writeMessage(dir, name string, m Message) error {
	base, _, _ := strings.Cut(name, ":")
	tmp := filepath.Join(dir, "tmp", base)
	if err := os.WriteFile(tmp, m.Raw, 0o600); err != nil {
		return err
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	if err := os.Chown(tmp, s.mailUID, s.mailGID); err != nil {
		return err
	}
	if err := os.Chtimes(tmp, date, date); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "cur", name))
}

// index makes Dovecot scan the folder (assigning UIDs), checks that it
// took every file, and subscribes the folder.
func (s *Server) index(user, folder, dir string) error {
	if _, err := s.Doveadm("force-resync", "-u", user, folder); err != nil {
		return err
	}
	out, err := s.Doveadm("mailbox", "status", "-u", user, "messages", folder)
	if err != nil {
		return err
	}
	// The output is "FOLDER messages=N" (doveadm's flow format).
	got := -1
	if i := strings.LastIndex(string(out), "messages="); i >= 0 {
		got, _ = strconv.Atoi(strings.TrimSpace(string(out[i+len("messages="):])))
	}
	files := 0
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return err
		}
		files += len(entries)
	}
	if got != files {
		return fmt.Errorf("dovecot counts %d messages (%q), the Maildir holds %d files", got, strings.TrimSpace(string(out)), files)
	}
	_, err = s.Doveadm("mailbox", "subscribe", "-u", user, folder)
	return err
}

// Maildir flag letters (in the order Maildir wants them: ASCII).
var systemFlags = map[string]byte{
	`\draft`:    'D',
	`\flagged`:  'F',
	`\answered`: 'R',
	`\seen`:     'S',
	`\deleted`:  'T',
}

// flagLetters returns a message's Maildir info letters: system flags as
// capitals, keywords as a-z indexes into the folder's dovecot-keywords
// (extended with new keywords).
func flagLetters(flags []string, keywords *[]string) (string, error) {
	var letters []byte
	for _, f := range flags {
		if strings.EqualFold(f, `\Recent`) {
			continue
		}
		if c, ok := systemFlags[strings.ToLower(f)]; ok {
			letters = append(letters, c)
			continue
		}
		if strings.HasPrefix(f, `\`) {
			return "", fmt.Errorf("unknown system flag %s", f)
		}
		if !validAtom(f) {
			return "", fmt.Errorf("keyword %q is not an IMAP atom", f)
		}
		idx := slices.IndexFunc(*keywords, func(k string) bool { return strings.EqualFold(k, f) })
		if idx < 0 {
			idx = len(*keywords)
			if idx >= 26 {
				return "", fmt.Errorf("keyword %s: a Maildir folder holds at most 26 keywords", f)
			}
			*keywords = append(*keywords, f)
		}
		letters = append(letters, byte('a'+idx))
	}
	slices.Sort(letters)
	return string(slices.Compact(letters)), nil
}

// validAtom: RFC 3501 9, atom-char (no controls, space or atom-specials).
func validAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// readKeywords reads a folder's dovecot-keywords ("INDEX NAME" lines);
// a missing file means no keywords yet.
func readKeywords(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "dovecot-keywords"))
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var kw []string
	for _, line := range strings.Split(string(b), "\n") {
		n, name, ok := strings.Cut(line, " ")
		idx, err := strconv.Atoi(n)
		if !ok || err != nil || idx < 0 || idx >= 26 {
			continue
		}
		for len(kw) <= idx {
			kw = append(kw, "")
		}
		kw[idx] = name
	}
	return kw, nil
}

func (s *Server) writeKeywords(dir string, kw []string) error {
	var b strings.Builder
	for i, k := range kw {
		if k != "" {
			fmt.Fprintf(&b, "%d %s\n", i, k)
		}
	}
	path := filepath.Join(dir, "dovecot-keywords")
	tmp := filepath.Join(dir, "tmp", "dovecot-keywords.mailkeep")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if err := os.Chown(tmp, s.mailUID, s.mailGID); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
