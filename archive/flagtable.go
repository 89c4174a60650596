package archive

import (
	"context"
	"sort"
)

// FlagTable is the stored flags of a folder's present messages, by UID,
// for a backup's flag sweep. It is two sorted arrays and the folder's
// distinct flag lists: 8 bytes a message (a million messages: 8 MB, where
// a map of strings took ~80 MB).
type FlagTable struct {
	uids  []uint32
	sets  []uint32 // flagsets ids, 0 for none
	names map[uint32]string
}

// Get returns the stored flags (JoinFlags form) of uid, and whether the
// archive has the message as present.
func (t *FlagTable) Get(uid uint32) (string, bool) {
	i := sort.Search(len(t.uids), func(i int) bool { return t.uids[i] >= uid })
	if i == len(t.uids) || t.uids[i] != uid {
		return "", false
	}
	return t.names[t.sets[i]], true
}

// Len is the number of messages in the table.
func (t *FlagTable) Len() int { return len(t.uids) }

// MessageFlags returns the stored flags of the present messages of a
// folder (the open transaction's rows included).
func (r *Repo) MessageFlags(ctx context.Context, folder int64, uidvalidity uint32) (*FlagTable, error) {
	t := &FlagTable{names: map[uint32]string{0: ""}}
	byText := map[string]uint32{}
	rows, err := r.query(ctx, `SELECT m.uid, m.flags, fs.flags FROM messages m LEFT JOIN flagsets fs ON fs.id=m.flags
		WHERE m.folder=? AND m.uidvalidity=? AND m.uidl='' AND m.gone_since=0 ORDER BY m.uid`, folder, uidvalidity)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var uid uint32
		var id any
		var text *string
		if err := rows.Scan(&uid, &id, &text); err != nil {
			return nil, err
		}
		var set uint32
		switch v := id.(type) {
		case int64:
			set = uint32(v)
			if text != nil {
				t.names[set] = *text
			}
		case string: // a version 1 row (never in a writer's index; kept for safety)
			if set = byText[v]; set == 0 && v != "" {
				set = uint32(1<<31 + len(byText))
				byText[v] = set
				t.names[set] = v
			}
		}
		if n := len(t.uids); n > 0 && t.uids[n-1] == uid {
			continue // one place per UID (ORDER BY uid keeps the first)
		}
		t.uids = append(t.uids, uid)
		t.sets = append(t.sets, set)
	}
	return t, rows.Err()
}
