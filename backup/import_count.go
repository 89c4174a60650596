package backup

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// count is the dry run's record: hash, and look the hash up.
func (im *importer) count(x *importBox, it *item, big io.Reader) error {
	var h archive.Hash
	var n int64
	if big != nil {
		s := sha256.New()
		var err error
		if n, err = io.Copy(s, big); err != nil {
			return importReadErr(err)
		}
		copy(h[:], s.Sum(nil))
	} else {
		h, n = archive.HashBytes(it.raw), int64(len(it.raw))
	}
	key := it.uidl
	if key == "" {
		key = im.contentKey(x, h)
	}
	if _, ok := x.known[key]; ok {
		x.fr.Known++
		im.res.Known++
		return nil
	}
	stored := im.seen[h]
	if !stored && im.repo != nil {
		var err error
		if stored, err = im.repo.HasBlob(im.ctx, h); err != nil {
			return err
		}
	}
	im.seen[h] = true
	im.tally(x, !stored, n)
	progress.Send(im.rep, progress.Event{Kind: progress.Item, Account: im.o.Account, Folder: x.fr.Name, UIDL: key, Bytes: n})
	return nil
}

func (im *importer) tally(x *importBox, added bool, n int64) {
	if added {
		x.fr.New++
		im.res.New++
	} else {
		x.fr.Dup++
		im.res.Dup++
	}
	x.fr.Bytes += n
	im.res.Bytes += n
}

// contentKey names an mbox message by its file and content: the same
// bytes at any position in the file are the same place (a message added
// or deleted before it does not change its key); an exact copy in the
// same file gets "#2", "#3", ...
func (im *importer) contentKey(x *importBox, h archive.Hash) string {
	x.occur[h]++
	key := x.b.KeyPrefix + "/" + h.String()[:24]
	if n := x.occur[h]; n > 1 {
		key += fmt.Sprintf("#%d", n)
	}
	return key
}
