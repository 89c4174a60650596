package mailfmt

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
)

// Format names a way of storing mail in files.
type Format string

// The formats mailfmt reads and (all but IMAPBackup) writes.
const (
	Maildir    Format = "maildir"
	Mbox       Format = "mbox"
	EML        Format = "eml"
	IMAPBackup Format = "imap-backup" // read only: imap-backup's .mbox + .imap pairs
)

// Message is one message on its way into or out of a file format.
type Message struct {
	// Body yields the message's exact bytes. Readers' bodies are valid
	// until the next call to Next.
	Body io.Reader
	// Size is the length of Body, or -1 when a reader cannot know it
	// before reading (mbox).
	Size int64
	// Flags in IMAP form: \Seen, \Answered, \Flagged, \Deleted, \Draft
	// and keywords ($Forwarded, Work, ...). \Recent is never written.
	Flags []string
	// Date is the INTERNALDATE; zero if unknown.
	Date time.Time
	// Sender is the envelope sender of an mbox From_ line. Writers derive
	// it from the header when empty.
	Sender string
	// ID is a short, file-name-safe label for writers (the UID, or a hash
	// prefix): eml names and Maildir unique names include it.
	ID string

	// Set by readers.
	Key         string // identity of the message within its source, stable across reads
	Path        string // file the message is in
	Line        int    // mbox: line of its From_ line (1-based)
	UID         uint32 // imap-backup, mbsync and OfflineIMAP know UIDs
	UIDValidity uint32
}

// Reader yields the messages of one mailbox one at a time.
type Reader interface {
	// Next returns the next message, or io.EOF after the last. An error
	// that is a *Problem concerns one message (or one file) only: record
	// it and call Next again. Any other error ends the mailbox.
	Next() (*Message, error)
	// Close releases the files.
	Close() error
}

// FolderEnder is a Writer that can forget what it keeps of a folder
// once all of that folder's messages are written (an export calls it
// when it moves to the next folder), so that its memory is that of one
// folder, not of the whole export.
type FolderEnder interface {
	FolderDone(folder Folder)
}

// nameKey is a file name's digest, for the sets of names a writer has
// given out: 16 bytes of SHA-256 (a collision, which would skip a
// message, is out of reach).
type nameKey [16]byte

func keyOf(name string) nameKey {
	sum := sha256.Sum256([]byte(name))
	return nameKey(sum[:16])
}

// Writer writes messages into one output directory, folder by folder.
// It is the two-method interface every format implements (plus Abort for
// a run that stops half-way).
type Writer interface {
	// Add writes one message into folder and returns the file it went
	// into. On error nothing of the message is left behind: a message is
	// written under a temporary name and renamed, or (mbox) the file is
	// cut back to where the message began.
	Add(folder Folder, m *Message) (string, error)
	// Close finishes every folder: mbox files, written under temporary
	// names, are synced and renamed into place.
	Close() error
	// Abort removes what is unfinished (temporary mbox files) and
	// closes; used when a run stops half-way, e.g. on a full disk.
	Abort()
	// Names is the Namer that gives each folder its path: Plan every
	// folder of the export with it before the first Add.
	Names() *Namer
}

// Folder is a folder name as a server gives it, with its hierarchy
// delimiter (0 when it has none).
type Folder struct {
	Name  string
	Delim rune
	// Key tells apart two folders that have the same name and delimiter
	// (the archive's folder id: a server may list both "INBOX.Sent" and
	// "Sent", which export names alike); 0 when there is no such need.
	Key int64
}

// Levels splits the name at the delimiter: "Archive/2019" -> [Archive 2019].
func (f Folder) Levels() []string {
	if f.Delim == 0 || f.Name == "" {
		return []string{f.Name}
	}
	return strings.Split(f.Name, string(f.Delim))
}

// IsInbox reports whether f is INBOX (case-insensitive, RFC 3501 5.1).
func (f Folder) IsInbox() bool { return strings.EqualFold(f.Name, "INBOX") }

// NewWriter returns the writer of a format rooted at dir (which must exist).
func NewWriter(format Format, dir string) (Writer, error) {
	switch format {
	case Maildir:
		return NewMaildirWriter(dir), nil
	case Mbox:
		return NewMboxWriter(dir), nil
	case EML:
		return NewEMLWriter(dir), nil
	}
	return nil, fmt.Errorf("cannot write format %q (want maildir, mbox or eml)", format)
}

// Problem is a failure that concerns one message or one file: the rest
// of the mailbox goes on.
type Problem struct {
	Path string
	Line int // mbox: line number, 0 if not known
	Key  string
	Err  error
}

func (p *Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s line %d: %v", p.Path, p.Line, p.Err)
	}
	return fmt.Sprintf("%s: %v", p.Path, p.Err)
}

func (p *Problem) Unwrap() error { return p.Err }

// ErrTruncated is wrapped by the error of an mbox message that ends in
// the middle of a line at the end of the file: the file was most likely
// cut short.
var ErrTruncated = errors.New("file ends in the middle of a line (truncated?)")

// ErrExists is returned by Add when the message is in the output
// already, from an earlier export into the same directory: nothing was
// written (a Maildir file's flags were brought up to date).
var ErrExists = errors.New("already exported")

// ErrStray is wrapped by problems that lose no mail: an entry in a
// Maildir's cur/ or new/ that is not a message file.
var ErrStray = errors.New("stray entry")

// ErrLink is wrapped by problems about symbolic links met while reading a
// source: import never follows one (it could lead anywhere, /etc
// included); the file or directory is skipped and named in a warning.
var ErrLink = errors.New("symbolic link not followed; skipped")

// ErrBadName is wrapped by problems about names that are not UTF-8: the
// mail is still read, under a name with the bad bytes written %XX.
var ErrBadName = errors.New("name is not valid UTF-8")

// DiskFull reports whether err means the output device has no room left:
// the export must stop, there is no point in trying the next message.
func DiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
