package imapsrv

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// CONDSTORE (RFC 7162) support that the imapserver's parser lacks travels
// between wireConn and the session as FETCH items the imapserver does know.
const (
	markerModSeq       = "X-Imapsrv-Modseq"
	markerChangedSince = "X-Imapsrv-Changedsince-"
	modSeqItem         = "BINARY.SIZE[0] " // part 0 never exists
)

var fetchMacros = map[string]string{
	"ALL":  "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE",
	"FAST": "FLAGS INTERNALDATE RFC822.SIZE",
	"FULL": "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY",
}

// rewriteFetch turns a FETCH with a MODSEQ item or a CHANGEDSINCE modifier
// into one the imapserver parses, with the markers the session looks for.
func rewriteFetch(seg []byte) ([]byte, bool) {
	line := strings.TrimRight(string(seg), "\r\n")
	// tag SP [UID SP] FETCH SP set SP items [SP modifiers]
	var prefix []string
	rest := line
	for range 3 {
		word, after, ok := strings.Cut(rest, " ")
		if !ok {
			return seg, false
		}
		prefix = append(prefix, word)
		rest = after
		if strings.EqualFold(word, "FETCH") {
			break
		}
	}
	if !strings.EqualFold(prefix[len(prefix)-1], "FETCH") {
		return seg, false
	}
	set, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return seg, false
	}
	prefix = append(prefix, set)

	end := itemEnd(rest)
	if end < 0 {
		return seg, false
	}
	atts, tail := rest[:end], strings.TrimSpace(rest[end:])
	var items []string
	if strings.HasPrefix(atts, "(") {
		items = splitItems(atts[1 : len(atts)-1])
	} else if m, ok := fetchMacros[strings.ToUpper(atts)]; ok {
		items = strings.Fields(m)
	} else {
		items = []string{atts}
	}

	changed := false
	for i, it := range items {
		if strings.EqualFold(it, "MODSEQ") {
			items[i] = "BODY.PEEK[HEADER.FIELDS (" + markerModSeq + ")]"
			changed = true
		}
	}
	if tail != "" {
		if !strings.HasPrefix(tail, "(") || !strings.HasSuffix(tail, ")") {
			return seg, false
		}
		mods := strings.Fields(strings.ToUpper(tail[1 : len(tail)-1]))
		if len(mods) != 2 || mods[0] != "CHANGEDSINCE" {
			return seg, false // VANISHED (QRESYNC) and the unknown: BAD
		}
		n, err := strconv.ParseUint(mods[1], 10, 63)
		if err != nil {
			return seg, false
		}
		items = append(items, "BODY.PEEK[HEADER.FIELDS ("+markerChangedSince+strconv.FormatUint(n, 10)+")]")
		changed = true
	}
	if !changed {
		return seg, false
	}
	out := strings.Join(prefix, " ") + " (" + strings.Join(items, " ") + ")\r\n"
	return []byte(out), true
}

// itemEnd returns the length of the first item of s: a parenthesised list
// or a word that may hold brackets with spaces, quotes included.
func itemEnd(s string) int {
	depth := 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuote && ch == '\\':
			i++
		case ch == '"':
			inQuote = !inQuote
		case inQuote:
		case ch == '(' || ch == '[':
			depth++
		case ch == ')' || ch == ']':
			depth--
			if depth < 0 {
				return -1
			}
			if depth == 0 && ch == ')' && i+1 < len(s) && s[0] == '(' {
				return i + 1
			}
		case ch == ' ' && depth == 0:
			return i
		}
	}
	if depth != 0 || inQuote {
		return -1
	}
	return len(s)
}

func splitItems(s string) []string {
	var items []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		end := itemEnd(s)
		if end <= 0 {
			return append(items, s)
		}
		items = append(items, s[:end])
		s = s[end:]
	}
	return items
}

// rewriteStatusItems sends HIGHESTMODSEQ to the imapserver as
// DELETED-STORAGE, an item it knows and this server does not advertise.
func rewriteStatusItems(seg []byte, name string) []byte {
	i := bytes.LastIndexByte(seg, '(')
	if name == "LIST" {
		i = bytes.LastIndex(bytes.ToUpper(seg), []byte(" RETURN "))
	}
	if i < 0 {
		return seg
	}
	up := bytes.ToUpper(seg[i:])
	j := bytes.Index(up, []byte("HIGHESTMODSEQ"))
	if j < 0 {
		return seg
	}
	out := append([]byte{}, seg[:i+j]...)
	out = append(out, "DELETED-STORAGE"...)
	return append(out, seg[i+j+len("HIGHESTMODSEQ"):]...)
}

// rewriteModSeq turns the session's stand-in item back into MODSEQ.
func rewriteModSeq(seg []byte) []byte {
	// The session writes it first or right after UID: "* n FETCH (UID u ".
	i := bytes.Index(seg, []byte(" FETCH ("))
	if i < 0 {
		return seg
	}
	i += len(" FETCH (")
	if rest := seg[i:]; bytes.HasPrefix(rest, []byte("UID ")) {
		j := 4
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		i += j + 1
	}
	if !bytes.HasPrefix(seg[min(i, len(seg)):], []byte(modSeqItem)) {
		return seg
	}
	j := i + len(modSeqItem)
	k := j
	for k < len(seg) && seg[k] >= '0' && seg[k] <= '9' {
		k++
	}
	out := append([]byte{}, seg[:i]...)
	out = append(out, "MODSEQ ("...)
	out = append(out, seg[j:k]...)
	out = append(out, ')')
	return append(out, seg[k:]...)
}

// fetchMarkers removes the wire layer's markers from a FETCH request.
func fetchMarkers(opts *imap.FetchOptions) (modSeq bool, changedSince uint64) {
	kept := opts.BodySection[:0]
	for _, bs := range opts.BodySection {
		if len(bs.HeaderFields) == 1 && len(bs.Part) == 0 {
			f := bs.HeaderFields[0]
			if strings.EqualFold(f, markerModSeq) {
				modSeq = true
				continue
			}
			if len(f) > len(markerChangedSince) && strings.EqualFold(f[:len(markerChangedSince)], markerChangedSince) {
				if n, err := strconv.ParseUint(f[len(markerChangedSince):], 10, 64); err == nil {
					changedSince = n
					modSeq = true
					continue
				}
			}
		}
		kept = append(kept, bs)
	}
	opts.BodySection = kept
	return modSeq, changedSince
}
