package archive

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Readers of message places and folders for backup, restore and export.
// They read committed rows only (the reader pool): in a migration, what
// the backup has checkpointed; in a POP3 backup, what survives a crash.

// KeyedPlace is a message place identified by its uidl key (POP3, import).
type KeyedPlace struct {
	Key       string // messages.uidl
	Hash      Hash
	Size      int64
	Flags     string // JoinFlags form
	FirstSeen time.Time
	GoneSince time.Time
}

// POP3Places returns the committed POP3 places of folder (uidvalidity and
// uid 0, uidl set), gone ones too unless presentOnly. A place whose
// message is not stored (its damaged copy was dropped by verify or
// repair) is left out: it is not archived, and a backup fetches it again.
func (r *Repo) POP3Places(ctx context.Context, folder int64, presentOnly bool) ([]KeyedPlace, error) {
	q := `SELECT m.uidl, b.hash, m.size, ` + flagsSQL("m") + `, m.first_seen, m.gone_since FROM messages m JOIN blobs b ON b.id=m.blob
		WHERE b.pack<>0 AND m.folder=? AND m.uidvalidity=0 AND m.uid=0 AND m.uidl<>''`
	if presentOnly {
		q += ` AND m.gone_since=0`
	}
	return r.keyedPlaces(ctx, q, folder)
}

// KeyedPlaces returns the committed places of the account's folder whose
// key starts with prefix+"/" (an import source's places), leaving out
// those whose message is not stored (see POP3Places).
func (r *Repo) KeyedPlaces(ctx context.Context, account int64, folder, prefix string) ([]KeyedPlace, error) {
	return r.keyedPlaces(ctx, `SELECT m.uidl, b.hash, m.size, `+flagsSQL("m")+`, m.first_seen, m.gone_since FROM messages m
		JOIN blobs b ON b.id=m.blob JOIN folders f ON f.id=m.folder WHERE b.pack<>0 AND f.account=? AND f.name=? AND m.uidl>=? AND m.uidl<?`,
		account, folder, prefix+"/", prefix+"0")
}

func (r *Repo) keyedPlaces(ctx context.Context, q string, args ...any) ([]KeyedPlace, error) {
	rows, err := r.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var out []KeyedPlace
	for rows.Next() {
		var p KeyedPlace
		var hash []byte
		var first, gone int64
		if err := rows.Scan(&p.Key, &hash, &p.Size, &p.Flags, &first, &gone); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		copy(p.Hash[:], hash)
		p.FirstSeen, p.GoneSince = fromUnix(first), fromUnix(gone)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return out, nil
}

// CommittedFolders lists the folders of an account as last committed, by
// name (Folders sees the open transaction's rows too).
func (r *Repo) CommittedFolders(ctx context.Context, account int64) ([]*Folder, error) {
	rows, err := r.rdb.QueryContext(ctx, `SELECT `+folderCols+` FROM folders WHERE account=? ORDER BY name`, account)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var out []*Folder
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// LastPlaceID is the largest committed message place id: it grows with
// every place recorded, so an unchanged value means nothing new.
func (r *Repo) LastPlaceID(ctx context.Context) (int64, error) {
	var max int64
	if err := r.rdb.QueryRowContext(ctx, `SELECT coalesce(max(id),0) FROM messages`).Scan(&max); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return max, nil
}

// GonePlaces returns which of the places ids are deleted on the server
// (mail mailkeep took off it is archived, not gone).
func (r *Repo) GonePlaces(ctx context.Context, ids []int64) (map[int64]bool, error) {
	gone := map[int64]bool{}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		q := `SELECT id FROM messages WHERE NOT ` + KeptSQL("") + ` AND id IN (?` + strings.Repeat(",?", n-1) + `)`
		rows, err := r.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("index: %w", err)
			}
			gone[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		ids = ids[n:]
	}
	return gone, nil
}

// FolderCount is how many places a folder has and their raw bytes.
type FolderCount struct{ Messages, Bytes int64 }

// FolderCounts counts the places of each folder of account (those every
// view shows, see KeptSQL, or all with includeGone), by folder id.
func (r *Repo) FolderCounts(ctx context.Context, account string, includeGone bool) (map[int64]FolderCount, error) {
	q := `SELECT m.folder, count(*), coalesce(sum(m.size),0) FROM messages m JOIN folders f ON f.id=m.folder
		JOIN accounts a ON a.id=f.account WHERE a.name=?`
	if !includeGone {
		q += ` AND ` + KeptSQL("m")
	}
	rows, err := r.rdb.QueryContext(ctx, q+` GROUP BY m.folder`, account)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	out := map[int64]FolderCount{}
	for rows.Next() {
		var id int64
		var c FolderCount
		if err := rows.Scan(&id, &c.Messages, &c.Bytes); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		out[id] = c
	}
	return out, rows.Err()
}

// Locate returns where the stored message h lives (for tools and tests
// that look at the data files themselves).
func (r *Repo) Locate(ctx context.Context, h Hash) (Blob, error) { return r.blob(ctx, h) }
