package restore

import (
	"github.com/mailkeep/mailkeep/archive"
)

// loadPlaces reads the selected places of a source folder with an id
// above after, in source order. It reads committed rows only (the index's
// reader pool): in a migration, what the backup has checkpointed.
func (e *engine) loadPlaces(sf *srcFolder, after int64) ([]*place, error) {
	if sf.f.ID < 0 {
		return nil, nil // not archived yet (dry run)
	}
	q := archive.Query{FolderID: sf.f.ID, AfterID: after, IncludeGone: e.o.IncludeDeleted, AsOf: e.o.AsOf, Only: e.o.Only}
	var out []*place
	for m, err := range e.repo.Messages(e.ctx, q) {
		if err != nil {
			return nil, archiveErr(err)
		}
		out = append(out, &place{src: sf, id: m.ID, uid: m.UID, hash: m.Hash, size: m.Size, flags: archive.JoinFlags(m.Flags),
			date: m.InternalDate, gone: !m.GoneSince.IsZero() && !archive.OffServer(m.GoneReason), msgid: m.Header.MessageID, dateHdr: m.Header.Date})
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
	out, err := e.repo.CommittedFolders(e.ctx, account)
	return out, archiveErr(err)
}
