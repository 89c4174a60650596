package mailfmt

import (
	"bytes"
	"strings"
)

// headerFields returns the unfolded values of the named fields (lower
// case) in the header at the start of head, which may be cut short. It
// is tolerant: bare LF, CRLF and junk lines are all accepted.
func headerFields(head []byte, names ...string) map[string]string {
	out := map[string]string{}
	var name string
	var val []byte
	flush := func() {
		if name == "" {
			return
		}
		if _, dup := out[name]; !dup {
			out[name] = strings.TrimSpace(string(val))
		}
		name, val = "", nil
	}
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break // end of the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" {
				val = append(append(val, ' '), bytes.TrimSpace(line)...)
			}
			continue
		}
		flush()
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		n := strings.ToLower(string(bytes.TrimSpace(line[:colon])))
		for _, want := range names {
			if n == want {
				name = n
				val = append([]byte(nil), bytes.TrimSpace(line[colon+1:])...)
			}
		}
	}
	flush()
	return out
}

// EnvelopeSender picks the sender for an mbox From_ line from a message's
// header: Return-Path, else the first address of From, else
// MAILER-DAEMON. The result never holds white space.
func EnvelopeSender(head []byte) string {
	f := headerFields(head, "return-path", "from")
	if rp, ok := f["return-path"]; ok {
		if a := addrSpec(rp); a != "" {
			return a
		}
		if strings.Contains(rp, "<>") {
			return "MAILER-DAEMON"
		}
	}
	if a := addrSpec(f["from"]); a != "" {
		return a
	}
	return "MAILER-DAEMON"
}

// addrSpec finds an address in a header value: the first <...>, or the
// first word with an '@'.
func addrSpec(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 1 {
			return cleanAddr(v[i+1 : i+j])
		}
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '"' }) {
		if strings.Contains(w, "@") {
			return cleanAddr(strings.Trim(w, "<>()"))
		}
	}
	return ""
}

func cleanAddr(a string) string {
	a = strings.TrimSpace(a)
	if a == "" || len(a) > 256 {
		return ""
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; c <= ' ' || c == 0x7f {
			return ""
		}
	}
	return a
}

// StatusFlags reads the flags mutt, Thunderbird and other mbox users
// keep in Status: and X-Status: fields (R read, A answered, F flagged,
// D deleted, T draft). The fields stay in the message: mailkeep never
// changes a message's bytes.
func StatusFlags(head []byte) []string {
	f := headerFields(head, "status", "x-status")
	var flags []string
	add := func(fl string) {
		for _, x := range flags {
			if x == fl {
				return
			}
		}
		flags = append(flags, fl)
	}
	for _, c := range f["status"] {
		if c == 'R' {
			add(`\Seen`)
		}
	}
	for _, c := range f["x-status"] {
		switch c {
		case 'A':
			add(`\Answered`)
		case 'F':
			add(`\Flagged`)
		case 'D':
			add(`\Deleted`)
		case 'T':
			add(`\Draft`)
		}
	}
	return flags
}
