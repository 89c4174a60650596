package mailfmt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaildirReader reads the messages of one Maildir (cur/ and new/; tmp/
// holds deliveries in progress and is left alone), oldest first.
//
// Flags come from the info part of the name (":2,FRS", or "!2," as some
// Windows-friendly tools write it), keywords through dovecot-keywords.
// The date is the file's mtime, the Maildir convention for INTERNALDATE.
// Names starting with "." are not messages (maildir.html); directories
// and other stray entries in cur/ and new/ are reported and skipped.
//
// Keys are KeyPrefix + "/" + the unique part of the name (flags cut
// off, so a flag change keeps the key). Names carrying ",U=N" (mbsync,
// OfflineIMAP) are keyed by that UID instead ("U=N", and "V=N/U=N" when
// mbsync's .uidvalidity file says which UIDVALIDITY it belongs to).
type MaildirReader struct {
	dir      string
	prefix   string
	keywords []string
	uidv     uint32
	entries  []maildirEntry
	problems []error
	i        int
	open     *os.File
}

type maildirEntry struct {
	path  string
	name  string
	size  int64
	mtime time.Time
	uid   uint32
}

// OpenMaildir lists a Maildir. keyPrefix starts every message's Key.
func OpenMaildir(dir, keyPrefix string) (*MaildirReader, error) {
	r := &MaildirReader{dir: dir, prefix: keyPrefix}
	kw, err := readDovecotKeywords(dir)
	if err != nil {
		r.problems = append(r.problems, &Problem{Path: filepath.Join(dir, "dovecot-keywords"), Err: fmt.Errorf("keywords lost: %w", err)})
	}
	r.keywords = kw
	if f, err := openNoFollow(filepath.Join(dir, ".uidvalidity")); err == nil {
		b, _ := io.ReadAll(io.LimitReader(f, 4096))
		f.Close()
		first, _, _ := strings.Cut(string(b), "\n")
		if v, err := strconv.ParseUint(strings.TrimSpace(first), 10, 32); err == nil {
			r.uidv = uint32(v)
		}
	}
	listed := 0
	for _, sub := range []string{"cur", "new"} {
		d := filepath.Join(dir, sub)
		ents, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && sub == "new" {
				continue
			}
			return nil, &Problem{Path: d, Err: err}
		}
		listed++
		for _, e := range ents {
			name := e.Name()
			path := filepath.Join(d, name)
			if strings.HasPrefix(name, ".") {
				continue
			}
			if e.Type()&fs.ModeSymlink != 0 {
				r.problems = append(r.problems, linkProblem(path, ""))
				continue
			}
			if !e.Type().IsRegular() {
				what := "a directory"
				if !e.IsDir() {
					what = "not a regular file (" + e.Type().String() + ")"
				}
				r.problems = append(r.problems, &Problem{Path: path, Err: fmt.Errorf("%w in a Maildir: %s; skipped", ErrStray, what)})
				continue
			}
			info, err := e.Info()
			if err != nil {
				r.problems = append(r.problems, &Problem{Path: path, Err: err})
				continue
			}
			r.entries = append(r.entries, maildirEntry{path: path, name: name, size: info.Size(),
				mtime: info.ModTime(), uid: nameUID(name)})
		}
	}
	// Oldest first, as a mail client would list them; UIDs when every
	// message has one (mbsync, OfflineIMAP), as the server numbered them.
	byUID := len(r.entries) > 0
	for _, e := range r.entries {
		if e.uid == 0 {
			byUID = false
			break
		}
	}
	slices.SortFunc(r.entries, func(a, b maildirEntry) int {
		if byUID && a.uid != b.uid {
			if a.uid < b.uid {
				return -1
			}
			return 1
		}
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return r, nil
}

// Count is the number of messages listed.
func (r *MaildirReader) Count() int { return len(r.entries) }

// Next opens the next message file.
func (r *MaildirReader) Next() (*Message, error) {
	r.closeOpen()
	if len(r.problems) > 0 {
		p := r.problems[0]
		r.problems = r.problems[1:]
		return nil, p
	}
	if r.i >= len(r.entries) {
		return nil, io.EOF
	}
	e := r.entries[r.i]
	r.i++
	m := &Message{Size: e.size, Date: e.mtime, Path: e.path, Flags: r.flags(e.name)}
	m.Key = r.prefix + "/" + r.key(e)
	if e.uid != 0 {
		m.UID, m.UIDValidity = e.uid, r.uidv
	}
	f, err := openNoFollow(e.path)
	if err != nil {
		return nil, &Problem{Path: e.path, Key: m.Key, Err: err}
	}
	r.open = f
	m.Body = f
	return m, nil
}

func (r *MaildirReader) key(e maildirEntry) string {
	if e.uid != 0 {
		if r.uidv != 0 {
			return fmt.Sprintf("V=%d/U=%d", r.uidv, e.uid)
		}
		return fmt.Sprintf("U=%d", e.uid)
	}
	base, _ := splitInfo(e.name)
	s, _ := SafeName(base)
	return s
}

func (r *MaildirReader) closeOpen() {
	if r.open != nil {
		r.open.Close()
		r.open = nil
	}
}

// Close closes the last message file.
func (r *MaildirReader) Close() error {
	r.closeOpen()
	return nil
}

// splitInfo cuts a Maildir name into its unique part and its info
// ("2,FRS"), accepting ':' and '!' as the separator.
func splitInfo(name string) (base, info string) {
	for _, sep := range []string{":2,", "!2,", ":1,", "!1,"} {
		if i := strings.LastIndex(name, sep); i >= 0 {
			return name[:i], name[i+1:]
		}
	}
	return name, ""
}

// flags turns the info of a name into IMAP flags.
func (r *MaildirReader) flags(name string) []string {
	_, info := splitInfo(name)
	letters, ok := strings.CutPrefix(info, "2,")
	if !ok {
		return nil
	}
	var out []string
	add := func(f string) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		switch {
		case letterFlag[c] != "":
			add(letterFlag[c])
		case c >= 'a' && c <= 'z' && int(c-'a') < len(r.keywords) && r.keywords[c-'a'] != "":
			add(r.keywords[c-'a'])
		}
	}
	return out
}

// nameUID finds ",U=N" in a Maildir name (mbsync, OfflineIMAP).
func nameUID(name string) uint32 {
	base, _ := splitInfo(name)
	i := strings.Index(base, ",U=")
	if i < 0 {
		return 0
	}
	s := base[i+3:]
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	v, err := strconv.ParseUint(s[:end], 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}
