package archive

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Term is one term of a search: Key "" is free text.
type Term struct {
	Key   string // from to cc subject body folder account before after larger smaller has is id, or ""
	Value string
	Neg   bool // -term: must not match
}

// SearchKeys are the keys a search term may have, for usage texts.
var SearchKeys = []string{"from", "to", "cc", "subject", "body", "folder", "account", "before", "after", "larger", "smaller", "has", "is", "id"}

func knownKey(k string) bool {
	for _, s := range SearchKeys {
		if s == k {
			return true
		}
	}
	return false
}

// ParseSearch splits a query into terms: words, "quoted phrases",
// key:value and key:"quoted value", each optionally negated with a
// leading '-'. Errors name the term at fault.
func ParseSearch(s string) ([]Term, error) {
	var out []Term
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if unicode.IsSpace(rs[i]) {
			i++
			continue
		}
		var t Term
		if rs[i] == '-' && i+1 < len(rs) && !unicode.IsSpace(rs[i+1]) {
			t.Neg = true
			i++
		}
		start := i
		// key:
		j := i
		for j < len(rs) && (unicode.IsLetter(rs[j]) && rs[j] < unicode.MaxASCII) {
			j++
		}
		if j > i && j < len(rs) && rs[j] == ':' && !strings.HasPrefix(string(rs[j+1:]), "//") {
			t.Key = strings.ToLower(string(rs[i:j]))
			if !knownKey(t.Key) {
				return nil, fmt.Errorf("search term %q: unknown key %q (known: %s)", firstWord(rs[start:]), t.Key+":", strings.Join(SearchKeys, ": ")+":")
			}
			i = j + 1
		}
		// value
		if i < len(rs) && rs[i] == '"' {
			end := i + 1
			for end < len(rs) && rs[end] != '"' {
				end++
			}
			if end >= len(rs) {
				return nil, fmt.Errorf("search term %q: the quote is not closed", string(rs[start:]))
			}
			t.Value = string(rs[i+1 : end])
			i = end + 1
		} else {
			end := i
			for end < len(rs) && !unicode.IsSpace(rs[end]) {
				end++
			}
			t.Value = string(rs[i:end])
			i = end
		}
		if t.Key != "" && strings.TrimSpace(t.Value) == "" {
			return nil, fmt.Errorf("search term %q: no value after %s:", firstWord(rs[start:]), t.Key)
		}
		if t.Value == "" && t.Key == "" {
			continue
		}
		if err := checkTerm(t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func firstWord(rs []rune) string {
	s := string(rs)
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[:i]
	}
	return s
}

func checkTerm(t Term) error {
	var err error
	switch t.Key {
	case "before", "after":
		_, err = searchDay(t.Value)
	case "larger", "smaller":
		_, err = searchSize(t.Value)
	case "has":
		if v := strings.ToLower(t.Value); v != "attachment" && v != "attachments" {
			err = fmt.Errorf("want has:attachment")
		}
	case "is":
		if _, ok := isFlags[strings.ToLower(t.Value)]; !ok {
			err = fmt.Errorf("want is:seen, is:unseen, is:flagged, is:answered or is:draft")
		}
	case "id":
		_, err = strconv.ParseInt(t.Value, 10, 64)
	}
	if err != nil {
		return fmt.Errorf("search term %s:%s: %w", t.Key, t.Value, err)
	}
	return nil
}

var isFlags = map[string]struct {
	flag string
	set  bool
}{
	"seen": {`\Seen`, true}, "read": {`\Seen`, true}, "unseen": {`\Seen`, false}, "unread": {`\Seen`, false},
	"flagged": {`\Flagged`, true}, "starred": {`\Flagged`, true}, "unflagged": {`\Flagged`, false},
	"answered": {`\Answered`, true}, "replied": {`\Answered`, true}, "draft": {`\Draft`, true},
}

// searchDay reads YYYY-MM-DD (local midnight) or an RFC 3339 time.
func searchDay(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "2006/01/02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want a day like 2024-03-31")
}

// searchSize reads 1500, 10K, 10KB, 2M, 1G (powers of 1024).
func searchSize(s string) (int64, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(u, suf.s) {
			u, mult = strings.TrimSuffix(u, suf.s), suf.m
			break
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(u), 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size like 10M or 500K")
	}
	return int64(n * float64(mult)), nil
}

// ftsColumns maps a term key to its columns in search_fts.
var ftsColumns = map[string]string{"from": "hfrom", "to": "hto", "cc": "hcc", "subject": "subject", "body": "body"}

// ftsPhrase is v as an FTS5 phrase: quoted (so no word is taken for an
// operator), a trailing * kept as a prefix search.
func ftsPhrase(v string) string {
	prefix := strings.HasSuffix(v, "*")
	v = strings.TrimRight(v, "*")
	p := `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	if prefix {
		p += " *"
	}
	return p
}

// ftsExpr is the FTS5 query of one text term.
func ftsExpr(t Term) string {
	if col, ok := ftsColumns[t.Key]; ok {
		return col + " : " + ftsPhrase(t.Value)
	}
	return ftsPhrase(t.Value)
}

// hasTokens reports whether v has anything the tokenizer indexes.
func hasTokens(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// SearchQuery is a search over the archive.
type SearchQuery struct {
	Terms          []Term
	Account        string // only this account ("" = all)
	FolderID       int64  // only this folder (0 = all)
	IncludeDeleted bool   // also mail deleted on the server
	Limit          int    // at most this many hits (0 = all)
}

// SearchHit is one message place a search found.
type SearchHit struct {
	ID         int64 // the place's id: what show, export --id and restore --id take
	Account    string
	Folder     string
	FolderID   int64
	UID        uint32
	UIDL       string
	Hash       Hash
	Date       time.Time
	From       string
	Subject    string
	Size       int64
	Flags      []string
	GoneSince  time.Time
	GoneReason string
}

// where builds the SQL conditions of q; the second result is false when
// q can match nothing (a term with no indexable text).
func (q *SearchQuery) where() (string, []any, bool, error) {
	w, args, _, ok, err := q.whereFTS()
	return w, args, ok, err
}

// whereFTS is where, and the FTS5 expression of the positive text terms
// ("" if none).
func (q *SearchQuery) whereFTS() (string, []any, string, bool, error) {
	var conds []string
	var args []any
	var fts, negs []string
	if !q.IncludeDeleted {
		conds = append(conds, KeptSQL("m"))
	}
	if q.Account != "" {
		conds = append(conds, `a.name=?`)
		args = append(args, q.Account)
	}
	if q.FolderID != 0 {
		conds = append(conds, `m.folder=?`)
		args = append(args, q.FolderID)
	}
	not := func(c string, neg bool) string {
		if neg {
			return "NOT (" + c + ")"
		}
		return c
	}
	for _, t := range q.Terms {
		switch t.Key {
		case "", "from", "to", "cc", "subject", "body":
			if !hasTokens(t.Value) {
				if t.Neg {
					continue
				}
				return "", nil, "", false, nil
			}
			if !t.Neg {
				fts = append(fts, ftsExpr(t))
				continue
			}
			negs = append(negs, ftsExpr(t))
		case "folder":
			conds = append(conds, not(`f.name LIKE ? ESCAPE '\'`, t.Neg))
			args = append(args, likePattern(t.Value))
		case "account":
			conds = append(conds, not(`a.name=?`, t.Neg))
			args = append(args, t.Value)
		case "before", "after":
			day, _ := searchDay(t.Value)
			op := "<"
			if t.Key == "after" {
				op = ">="
			}
			conds = append(conds, not(`d.id`+op+`?`, t.Neg))
			args = append(args, docKey(day))
		case "larger", "smaller":
			n, _ := searchSize(t.Value)
			op := ">"
			if t.Key == "smaller" {
				op = "<"
			}
			conds = append(conds, not(`m.size`+op+`?`, t.Neg))
			args = append(args, n)
		case "has":
			conds = append(conds, not(`d.attachments>0`, t.Neg))
		case "is":
			f := isFlags[strings.ToLower(t.Value)]
			c := `(' '||` + flagsSQL("m") + `||' ') LIKE ?`
			if f.set == t.Neg {
				c = "NOT " + c
			}
			conds = append(conds, c)
			args = append(args, `% `+f.flag+` %`)
		case "id":
			id, _ := strconv.ParseInt(t.Value, 10, 64)
			conds = append(conds, not(`m.id=?`, t.Neg))
			args = append(args, id)
		}
	}
	// Negated text terms: with a positive one, FTS5's NOT ("a NOT b");
	// alone, every message without them (a scan).
	expr := strings.Join(fts, " AND ")
	for _, n := range negs {
		if expr != "" {
			expr = "(" + expr + ") NOT " + n
			continue
		}
		conds = append(conds, `d.id NOT IN (SELECT rowid FROM search.search_fts WHERE search_fts MATCH ?)`)
		args = append(args, n)
	}
	if len(fts) > 0 {
		conds = append(conds, `d.id IN (SELECT rowid FROM search.search_fts WHERE search_fts MATCH ?)`)
		args = append(args, expr)
	}
	if len(conds) == 0 {
		return "1=1", args, expr, true, nil
	}
	return strings.Join(conds, " AND "), args, expr, true, nil
}

// likePattern turns a folder pattern (* and % wildcards) into LIKE's.
func likePattern(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `%`, `*`, `%`)
	return r.Replace(v)
}

// Search runs q: the places it finds, newest first (by the message's
// Date header, or when it was archived). It holds every hit; SearchHits
// streams them.
func (r *Repo) Search(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	var out []SearchHit
	for h, err := range r.SearchHits(ctx, q) {
		if err != nil {
			return nil, err
		}
		out = append(out, *h)
	}
	return out, nil
}

// SearchHits runs q and yields its hits one by one in Search's order,
// holding none of them: memory stays flat however many match.
func (r *Repo) SearchHits(ctx context.Context, q SearchQuery) iter.Seq2[*SearchHit, error] {
	return func(yield func(*SearchHit, error) bool) {
		where, args, expr, ok, err := q.whereFTS()
		if err != nil || !ok {
			if err != nil {
				yield(nil, err)
			}
			return
		}
		if err := r.catchUpSearch(ctx); err != nil { // searchindexer.go: a writer's own messages first
			yield(nil, err)
			return
		}
		rows, err := r.rdb.QueryContext(ctx, searchSQL(where, expr, q.Limit), args...)
		if err != nil {
			if strings.Contains(err.Error(), "fts5") {
				yield(nil, fmt.Errorf("search: %w", err))
			} else {
				yield(nil, fmt.Errorf("index: %w", err))
			}
			return
		}
		defer rows.Close()
		var hash sql.RawBytes
		var flags string
		for rows.Next() {
			h := &SearchHit{}
			var gone, date int64
			var b Blob
			if err := rows.Scan(&h.ID, &h.FolderID, &h.UID, &h.UIDL, &hash, &h.Size, &flags, &gone, &h.GoneReason,
				&h.Account, &h.Folder, &date, &b.Pack, &b.Offset, &b.Length, &b.Size); err != nil {
				yield(nil, fmt.Errorf("index: %w", err))
				return
			}
			copy(h.Hash[:], hash)
			b.Hash = h.Hash
			// Sender and subject are read from the stored message (they are
			// not in the index).
			hi := r.headerOf(b)
			h.From, h.Subject = hi.From, hi.Subject
			h.Flags = SplitFlags(flags)
			h.GoneSince = fromUnix(gone)
			h.Date = time.Unix(date, 0)
			if !yield(h, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, fmt.Errorf("index: %w", err))
		}
	}
}

// searchSQL is the query of a search with the conditions where (from
// whereFTS) and the FTS5 expression expr.
func searchSQL(where, expr string, limit int) string {
	// Newest first without sorting: the text index (or, with no text
	// term, search_docs) is walked by its rowid, which is date-ordered
	// (docKey), and the walk stops at the limit. CROSS JOIN keeps SQLite
	// from reordering the join; a second ORDER BY term would make it sort
	// every match (400 ms for a common word in 10,000 messages, against
	// under 1 ms).
	from := `FROM search.search_docs d`
	order := `d.id`
	if expr != "" {
		where = strings.Replace(where, `d.id IN (SELECT rowid FROM search.search_fts WHERE search_fts MATCH ?)`, `s.search_fts MATCH ?`, 1)
		// Date bounds on the FTS rowid itself, which FTS5 seeks to.
		where = strings.NewReplacer(`d.id<?`, `s.rowid<?`, `d.id>=?`, `s.rowid>=?`).Replace(where)
		from = `FROM search.search_fts s CROSS JOIN search.search_docs d ON d.id=s.rowid`
		order = `s.rowid`
	}
	sqlq := `SELECT m.id, m.folder, m.uid, m.uidl, b.hash, m.size, ` + flagsSQL("m") + `, m.gone_since, m.gone_reason,
		a.name, f.name, d.date, b.pack, b.offset, b.length, b.size
		` + from + ` CROSS JOIN blobs b ON substr(b.hash,1,8)=substr(d.hash,1,8) AND b.hash=d.hash AND b.pack<>0
		CROSS JOIN messages m ON m.blob=b.id CROSS JOIN folders f ON f.id=m.folder CROSS JOIN accounts a ON a.id=f.account
		WHERE ` + where + ` ORDER BY ` + order + ` DESC`
	if limit > 0 {
		sqlq += ` LIMIT ` + strconv.Itoa(limit)
	}
	return sqlq
}

// Place returns the message place with this id (as search gives it).
func (r *Repo) Place(ctx context.Context, id int64) (*Entry, error) {
	for e, err := range r.Messages(ctx, Query{PlaceID: id, IncludeGone: true}) {
		return e, err
	}
	return nil, fmt.Errorf("message id %d: %w", id, ErrNotFound)
}
