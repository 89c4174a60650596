package mailfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// IMAPBackupReader reads one folder of an imap-backup tree: FOLDER.mbox
// and its metadata FOLDER.imap, JSON of this shape (version 3 and 3.1):
//
//	{"version": 3, "uid_validity": 1606316666,
//	 "messages": [{"uid": 1, "offset": 0, "length": 3736, "flags": ["Seen"]}]}
//
// offset and length locate each message, From_ line included, in the
// .mbox. imap-backup quotes like mboxrd, but before version 3.1 it quoted
// "From" without the space; it does not quote a message's first line,
// and ends each message with "\n" (after adding one if the message had
// none). Version 2 had "uids" only, in the order of the .mbox. Flags are
// IMAP flags without the backslash ("Seen", "Draft") or keywords.
//
// Keys are KeyPrefix + "/" + UIDVALIDITY + "/" + UID. A .imap file this
// reader does not understand is reported, and the .mbox is then read as
// a plain mbox (Key left empty).
type IMAPBackupReader struct {
	mboxPath string
	prefix   string
	f        *os.File
	size     int64
	version  string
	uidv     uint32
	msgs     []ibMessage
	uids     []uint32 // version 2
	i        int
	seq      *MboxReader // version 2, or a plain mbox when the metadata is unusable
	first    error
}

type ibMessage struct {
	UID    uint32   `json:"uid"`
	Offset int64    `json:"offset"`
	Length int64    `json:"length"`
	Flags  []string `json:"flags"`
}

type ibMeta struct {
	Version     json.Number `json:"version"`
	UIDValidity uint32      `json:"uid_validity"`
	Messages    []ibMessage `json:"messages"`
	UIDs        []uint32    `json:"uids"`
}

// OpenIMAPBackup opens FOLDER.mbox with its FOLDER.imap.
func OpenIMAPBackup(mboxPath, keyPrefix string) (*IMAPBackupReader, error) {
	f, err := openNoFollow(mboxPath)
	if err != nil {
		return nil, &Problem{Path: mboxPath, Err: err}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Problem{Path: mboxPath, Err: err}
	}
	r := &IMAPBackupReader{mboxPath: mboxPath, prefix: keyPrefix, f: f, size: st.Size()}
	imapPath := strings.TrimSuffix(mboxPath, ".mbox") + ".imap"
	meta, err := readIBMeta(imapPath)
	if err == nil {
		r.version, r.uidv = meta.Version.String(), meta.UIDValidity
		switch r.version {
		case "3", "3.1":
			r.msgs = meta.Messages
		case "2":
			r.uids = meta.UIDs
			r.seq = NewMboxReader(f, mboxPath, MboxOptions{QuoteNoSpace: true})
		default:
			err = fmt.Errorf("metadata version %s is not known", r.version)
		}
	}
	if err != nil {
		r.first = &Problem{Path: imapPath, Err: fmt.Errorf("%w; reading %s as a plain mbox (no UIDs, no flags)", err, mboxPath)}
		r.version = ""
		r.seq = NewMboxReader(f, mboxPath, MboxOptions{})
	}
	return r, nil
}

func readIBMeta(path string) (*ibMeta, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m ibMeta
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not imap-backup metadata: %w", err)
	}
	if m.Version == "" {
		return nil, fmt.Errorf("not imap-backup metadata: no version")
	}
	return &m, nil
}

// Count is the number of messages the metadata lists (-1 if unknown).
func (r *IMAPBackupReader) Count() int {
	switch r.version {
	case "3", "3.1":
		return len(r.msgs)
	case "2":
		return len(r.uids)
	}
	return -1
}

// Next returns the next message.
func (r *IMAPBackupReader) Next() (*Message, error) {
	if r.first != nil {
		err := r.first
		r.first = nil
		return nil, err
	}
	if r.seq != nil {
		m, err := r.seq.Next()
		if err != nil || r.version == "" {
			return m, err
		}
		i := r.i
		r.i++
		if i >= len(r.uids) {
			return m, &Problem{Path: r.mboxPath, Line: m.Line, Err: fmt.Errorf("more messages than the metadata lists UIDs (%d); the rest is skipped", len(r.uids))}
		}
		m.UID, m.UIDValidity = r.uids[i], r.uidv
		m.Key = fmt.Sprintf("%s/%d/%d", r.prefix, r.uidv, m.UID)
		return m, nil
	}
	if r.i >= len(r.msgs) {
		return nil, io.EOF
	}
	meta := r.msgs[r.i]
	r.i++
	key := fmt.Sprintf("%s/%d/%d", r.prefix, r.uidv, meta.UID)
	if meta.Offset < 0 || meta.Length <= 0 || meta.Offset+meta.Length > r.size {
		return nil, &Problem{Path: r.mboxPath, Key: key, Err: fmt.Errorf("uid %d: offset %d length %d is outside the file (%d bytes): truncated?",
			meta.UID, meta.Offset, meta.Length, r.size)}
	}
	sec := io.NewSectionReader(r.f, meta.Offset, meta.Length)
	var head [5]byte
	if _, err := sec.ReadAt(head[:], 0); err != nil || string(head[:]) != "From " {
		return nil, &Problem{Path: r.mboxPath, Key: key, Err: fmt.Errorf("uid %d: no From_ line at offset %d: the .imap and .mbox files disagree", meta.UID, meta.Offset)}
	}
	mr := NewMboxReader(sec, fmt.Sprintf("%s (offset %d)", r.mboxPath, meta.Offset),
		MboxOptions{Single: true, QuoteNoSpace: r.version == "3"})
	m, err := mr.Next()
	if err != nil {
		return nil, err
	}
	m.Flags = ibFlags(meta.Flags)
	m.UID, m.UIDValidity, m.Key = meta.UID, r.uidv, key
	return m, nil
}

// ibFlags turns imap-backup's flag names into IMAP flags.
func ibFlags(in []string) []string {
	var out []string
	for _, f := range in {
		name := strings.ToLower(strings.TrimPrefix(f, `\`))
		if name == "recent" {
			continue
		}
		if sys, ok := ibSystemFlags[name]; ok {
			f = sys
		}
		out = append(out, f)
	}
	return out
}

var ibSystemFlags = map[string]string{
	"seen": `\Seen`, "answered": `\Answered`, "flagged": `\Flagged`, "deleted": `\Deleted`, "draft": `\Draft`,
}

// Close closes the .mbox file.
func (r *IMAPBackupReader) Close() error { return r.f.Close() }
