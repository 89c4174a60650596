package imapsrv

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// SearchResult collects what a SEARCH matched as go-imap's server wants
// it: sequence numbers, or UIDs for UID SEARCH, with MIN, MAX and COUNT.
// The test server and mailkeep serve both answer SEARCH with it.
type SearchResult struct {
	kind imapserver.NumKind
	data imap.SearchData
	seqs imap.SeqSet
	uids imap.UIDSet
}

// NewSearchResult starts an empty result of the given kind.
func NewSearchResult(kind imapserver.NumKind) *SearchResult {
	return &SearchResult{kind: kind}
}

// Add records the message at sequence number seq with UID uid.
func (r *SearchResult) Add(seq, uid uint32) {
	n := seq
	if r.kind == imapserver.NumKindUID {
		n = uid
		r.uids.AddNum(imap.UID(n))
	} else {
		r.seqs.AddNum(n)
	}
	if r.data.Min == 0 || n < r.data.Min {
		r.data.Min = n
	}
	r.data.Max = max(r.data.Max, n)
	r.data.Count++
}

// Data is the result as a SEARCH response.
func (r *SearchResult) Data() *imap.SearchData {
	d := r.data
	if r.kind == imapserver.NumKindUID {
		d.All = r.uids
	} else {
		d.All = r.seqs
	}
	return &d
}
