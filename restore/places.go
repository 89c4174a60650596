package restore

import (
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// loadPlaces reads the selected places of a source folder with an id
// above after, in source order. It reads committed rows only (the index's
// reader pool): in a migration, what the backup has checkpointed.
func (e *engine) loadPlaces(sf *srcFolder, after int64) ([]*place, error) {
	if sf.f.ID < 0 {
		return nil, nil // not archived yet (dry run)
	}
	q := `SELECT m.id, m.uid, m.hash, m.size, m.flags, m.internaldate, m.gone_since, b.message_id, b.date_header
		FROM messages m JOIN blobs b ON b.hash=m.hash
		WHERE m.folder=? AND m.id>?`
	args := []any{sf.f.ID, after}
	switch {
	case !e.o.AsOf.IsZero():
		q += ` AND m.first_seen<=? AND (m.gone_since=0 OR m.gone_since>?)`
		args = append(args, e.o.AsOf.Unix(), e.o.AsOf.Unix())
	case e.o.IncludeDeleted:
	default:
		q += ` AND m.gone_since=0`
	}
	q += ` ORDER BY m.uidvalidity, m.uid, m.first_seen, m.id`
	rows, err := e.repo.DB().QueryContext(e.ctx, q, args...)
	if err != nil {
		return nil, archiveErr(err)
	}
	defer rows.Close()
	var out []*place
	for rows.Next() {
		p := &place{src: sf}
		var hash []byte
		var date string
		var gone int64
		if err := rows.Scan(&p.id, &p.uid, &hash, &p.size, &p.flags, &date, &gone, &p.msgid, &p.dateHdr); err != nil {
			return nil, archiveErr(err)
		}
		copy(p.hash[:], hash)
		if date != "" {
			p.date, _ = time.Parse(archive.DateLayout, date)
		}
		p.gone = gone != 0
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, archiveErr(err)
	}
	if e.o.IncludeDeleted && after == 0 {
		out = dedupeGone(out)
	}
	return out, nil
}

// dedupeGone drops places gone from the source whose message is in the
// folder anyway: a folder re-read after a UIDVALIDITY change has every
// message twice, once gone under the old UIDs and once present. Two
// present copies of one message both stay: the source had it twice.
func dedupeGone(places []*place) []*place {
	have := map[archive.Hash]bool{}
	for _, p := range places {
		if !p.gone {
			have[p.hash] = true
		}
	}
	out := places[:0]
	for _, p := range places {
		if p.gone {
			if have[p.hash] {
				continue
			}
			have[p.hash] = true
		}
		out = append(out, p)
	}
	return out
}

// committedFolders lists the folders of an account as last checkpointed
// (the reader pool sees committed rows only: a migration's backup may be
// half-way through recording a folder).
func (e *engine) committedFolders(account int64) ([]*archive.Folder, error) {
	rows, err := e.repo.DB().QueryContext(e.ctx, `SELECT id, name, delimiter, special_use, uidvalidity, first_seen, gone_since
		FROM folders WHERE account=? ORDER BY name`, account)
	if err != nil {
		return nil, archiveErr(err)
	}
	defer rows.Close()
	var out []*archive.Folder
	for rows.Next() {
		f := &archive.Folder{Account: account}
		var first, gone int64
		if err := rows.Scan(&f.ID, &f.Name, &f.Delimiter, &f.SpecialUse, &f.UIDValidity, &first, &gone); err != nil {
			return nil, archiveErr(err)
		}
		if first != 0 {
			f.FirstSeen = time.Unix(first, 0).UTC()
		}
		if gone != 0 {
			f.GoneSince = time.Unix(gone, 0).UTC()
		}
		out = append(out, f)
	}
	return out, archiveErr(rows.Err())
}
