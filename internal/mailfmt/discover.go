package mailfmt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailkeep/mailkeep/internal/mutf7"
)

// Mailbox is one folder found in a source: a Maildir, an mbox file, a
// directory of .eml files, or an imap-backup .mbox/.imap pair.
type Mailbox struct {
	// Name is the folder name, levels joined by "/": Maildir++ ".A.B"
	// and directory trees become "A/B". "" is the root Maildir: INBOX.
	Name   string
	Path   string // the Maildir or .eml directory, or the .mbox file
	Format Format
	// KeyPrefix starts the Key of every message: the format and the
	// path relative to the source root ("maildir:.Sent",
	// "mbox:Archive/2019.mbox"), so that importing the same source again
	// finds the same keys.
	KeyPrefix string
}

// Open returns the mailbox's reader.
func (m Mailbox) Open() (Reader, error) {
	switch m.Format {
	case Maildir:
		return OpenMaildir(m.Path, m.KeyPrefix)
	case Mbox:
		return OpenMbox(m.Path, MboxOptions{})
	case EML:
		return OpenEMLDir(m.Path, m.KeyPrefix)
	case IMAPBackup:
		return OpenIMAPBackup(m.Path, m.KeyPrefix)
	}
	return nil, fmt.Errorf("unknown format %q", m.Format)
}

// ParseFormat checks a format name as the import command takes it.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case "", "auto":
		return "", nil
	case Maildir, Mbox, EML, IMAPBackup:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want auto, maildir, mbox, eml or imap-backup)", s)
}

// Discover finds the mailboxes under root (a file or a directory) of the
// given format ("" = any). Problems with parts of the tree (unreadable
// directories, names that are not UTF-8, symbolic links) are returned
// beside the mailboxes found; err is set only when root itself is
// unusable.
//
// Symbolic links: root itself may be one, and is resolved once. Inside
// it no link is ever followed (a link to /etc/shadow named x.eml, a
// Maildir whose cur/ points at /etc): each is skipped with a problem
// wrapping ErrLink that names it. Nothing is read twice and no loop can
// form, since the walk never leaves the tree.
func Discover(root string, format Format) (boxes []Mailbox, problems []error, err error) {
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, nil, err
	}
	root = resolved
	st, err := os.Stat(root)
	if err != nil {
		return nil, nil, err
	}
	d := &discovery{root: root, format: format}
	if st.IsDir() {
		d.names, _ = ReadNamesFile(root)
	} else {
		if err := d.file(root, filepath.Base(root), true); err != nil {
			return nil, nil, err
		}
		if len(d.boxes) == 0 {
			return nil, nil, fmt.Errorf("%s: not a mailbox file (want an mbox starting with \"From \", an .eml file, or an imap-backup .mbox with its .imap)", root)
		}
		return d.boxes, d.problems, nil
	}
	err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			d.problems = append(d.problems, &Problem{Path: path, Err: err})
			if e != nil && e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if e.Type()&fs.ModeSymlink != 0 {
			if !d.linked[path] {
				d.problems = append(d.problems, linkProblem(path, ""))
			}
			return nil
		}
		if e.IsDir() {
			if rel != "." && isMaildirSub(path) {
				return fs.SkipDir // cur, new, tmp of a Maildir
			}
			if format == "" || format == Maildir {
				switch link := maildirLink(path); {
				case link != "":
					d.problems = append(d.problems, linkProblem(link, "; the Maildir "+path+" is skipped"))
					if d.linked == nil {
						d.linked = map[string]bool{}
					}
					d.linked[link] = true
				case isMaildir(path):
					d.add(Mailbox{Path: path, Format: Maildir, KeyPrefix: "maildir:" + keyRel(rel)}, d.maildirName(rel, path))
				}
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		return d.file(path, rel, false)
	})
	if err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(d.boxes, func(a, b Mailbox) int { return strings.Compare(a.Name, b.Name) })
	return d.boxes, d.problems, nil
}

type discovery struct {
	root     string
	format   Format
	boxes    []Mailbox
	problems []error
	emlDirs  map[string]bool
	names    map[string]string // NamesFile of an export: shortened component -> full
	linked   map[string]bool   // links reported already
}

// linkProblem names a symbolic link that is not followed, and where it
// points.
func linkProblem(path, more string) error {
	to, err := os.Readlink(path)
	if err != nil {
		to = "?"
	}
	return &Problem{Path: path, Err: fmt.Errorf("%w (it points to %s)%s", ErrLink, to, more)}
}

// full gives a component shortened by an export back its full form.
func (d *discovery) full(c string) string {
	if f, ok := d.names[c]; ok {
		return f
	}
	return c
}

func (d *discovery) add(m Mailbox, levels []string) {
	for i, l := range levels {
		safe, changed := SafeName(l)
		if changed {
			d.problems = append(d.problems, &Problem{Path: m.Path, Err: fmt.Errorf("%w; folder level imported as %q", ErrBadName, safe)})
		}
		// A '/' inside a level (a server whose delimiter is '.') would
		// split it into two in the archive's '/'-delimited name.
		levels[i] = strings.ReplaceAll(safe, "/", "%2F")
	}
	if len(levels) > 0 && strings.EqualFold(levels[0], "INBOX") {
		levels[0] = "INBOX"
	}
	m.Name = strings.Join(levels, "/")
	d.boxes = append(d.boxes, m)
}

func keyRel(rel string) string {
	if rel == "." {
		return ""
	}
	s, _ := SafeName(rel)
	return s
}

// file looks at one regular file: an mbox, an .eml, an imap-backup pair.
func (d *discovery) file(path, rel string, single bool) error {
	name := filepath.Base(path)
	if strings.HasPrefix(name, ".") && !single {
		return nil
	}
	ext := strings.ToLower(filepath.Ext(name))
	dirRel := filepath.ToSlash(filepath.Dir(rel))
	switch {
	case ext == ".eml" && (d.format == "" || d.format == EML):
		dir := filepath.Dir(path)
		if d.emlDirs == nil {
			d.emlDirs = map[string]bool{}
		}
		if d.emlDirs[dir] {
			return nil
		}
		d.emlDirs[dir] = true
		var levels []string
		if dirRel == "." || single {
			levels = []string{filepath.Base(dir)}
			if single {
				levels = []string{strings.TrimSuffix(name, filepath.Ext(name))}
			}
		} else {
			levels = d.unescapeLevels(strings.Split(dirRel, "/"))
		}
		m := Mailbox{Path: dir, Format: EML, KeyPrefix: "eml:" + keyRel(dirRel)}
		if single {
			m.Path = path
		}
		d.add(m, levels)
	case ext == ".imap" || ext == ".idx":
	case ext == ".mbox" && isFile(strings.TrimSuffix(path, filepath.Ext(path))+".imap") && (d.format == "" || d.format == IMAPBackup):
		levels := strings.Split(strings.TrimSuffix(filepath.ToSlash(rel), filepath.Ext(rel)), "/")
		d.add(Mailbox{Path: path, Format: IMAPBackup, KeyPrefix: "imap-backup:" + keyRel(strings.TrimSuffix(rel, filepath.Ext(rel)))}, levels)
	case d.format == "" || d.format == Mbox:
		if isBookkeeping(name) && ext != ".mbox" && ext != ".mbx" {
			return nil
		}
		ok, err := sniffMbox(path)
		if err != nil {
			d.problems = append(d.problems, &Problem{Path: path, Err: err})
			return nil
		}
		named := ext == ".mbox" || ext == ".mbx"
		if !ok && !(named || (single && d.format == Mbox)) {
			return nil
		}
		trimmed := rel
		if named {
			trimmed = strings.TrimSuffix(rel, filepath.Ext(rel))
		}
		levels := strings.Split(filepath.ToSlash(trimmed), "/")
		for i, l := range levels {
			if i < len(levels)-1 {
				levels[i] = strings.TrimSuffix(l, ".sbd") // Thunderbird's subfolder directories
			}
		}
		d.add(Mailbox{Path: path, Format: Mbox, KeyPrefix: "mbox:" + keyRel(rel)}, d.unescapeLevels(levels))
	}
	return nil
}

func (d *discovery) unescapeLevels(levels []string) []string {
	for i, l := range levels {
		levels[i] = unescapeLevel(d.full(l))
	}
	return levels
}

func isFile(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.Mode().IsRegular()
}

// isBookkeeping: files Dovecot, mbsync, OfflineIMAP, notmuch and
// imap-backup keep beside the mail.
func isBookkeeping(name string) bool {
	switch {
	case strings.HasPrefix(name, "dovecot.") || strings.HasPrefix(name, "dovecot-"), name == "subscriptions", name == "maildirfolder",
		name == "courierimapsubscribed", name == "courierimapuiddb", name == "msf",
		strings.HasSuffix(name, ".msf"), strings.HasSuffix(name, ".json"):
		return true
	}
	return false
}

// sniffMbox reports whether a file is empty or starts with "From "
// (after empty lines).
func sniffMbox(path string) (bool, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var buf [512]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	b := strings.TrimLeft(string(buf[:n]), "\r\n")
	return n == 0 || strings.HasPrefix(b, "From "), nil
}

// isMaildir: a directory with cur/ and new/ (tmp/ is not required:
// some copies leave it out), both real directories.
func isMaildir(dir string) bool {
	return isDir(filepath.Join(dir, "cur")) && isDir(filepath.Join(dir, "new"))
}

// maildirLink returns dir's cur or new if it is a symbolic link: the
// Maildir is then not read at all.
func maildirLink(dir string) string {
	for _, sub := range []string{"cur", "new"} {
		p := filepath.Join(dir, sub)
		if st, err := os.Lstat(p); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			return p
		}
	}
	return ""
}

func isMaildirSub(dir string) bool {
	switch filepath.Base(dir) {
	case "cur", "new", "tmp":
		parent := filepath.Dir(dir)
		return isMaildir(parent) || maildirLink(parent) != ""
	}
	return false
}

func isDir(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.IsDir()
}

// maildirName turns a Maildir's path relative to the root into folder
// levels: Maildir++ ".A.B" (modified UTF-7, as Dovecot writes it) and
// plain directories "A/B" (mbsync's SubFolders Verbatim) both give A/B.
// The root itself is INBOX.
func (d *discovery) maildirName(rel, path string) []string {
	if rel == "." {
		return []string{"INBOX"}
	}
	var levels []string
	for _, part := range strings.Split(rel, "/") {
		if strings.HasPrefix(part, ".") && len(part) > 1 {
			part = d.full(part)
			for _, l := range strings.Split(part[1:], ".") {
				levels = append(levels, decodeLevel(l))
			}
			continue
		}
		levels = append(levels, unescapeLevel(part))
	}
	return levels
}

// decodeLevel decodes a Maildir++ level: modified UTF-7 (a name that is
// not valid modified UTF-7, from Dovecot with mailbox_list_utf8 or a
// person's own folder, is taken as it is), then the look-alikes
// MaildirPath writes for '.' and '/', then its %XX escapes.
func decodeLevel(l string) string {
	if s, err := mutf7.Decode(l); err == nil {
		l = unLookAlike.Replace(s)
	}
	return unescapeLevel(l)
}
