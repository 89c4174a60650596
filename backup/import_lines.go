package backup

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// archivedForm recognises a message exported with its line ends
// converted (mailfmt.LineEndings): when its bytes are not archived but
// its other reversible form is, that form is what is recorded, so an
// export imported again adds nothing new.
func (im *importer) archivedForm(raw []byte) ([]byte, error) {
	if im.repo == nil {
		return raw, nil
	}
	alt := mailfmt.AltLineEndings(raw)
	if alt == nil {
		return raw, nil
	}
	if im.seen[archive.HashBytes(alt)] {
		return alt, nil // dry run: counted already in this form
	}
	if has, err := im.repo.HasBlob(im.ctx, archive.HashBytes(raw)); err != nil || has {
		return raw, err
	}
	has, err := im.repo.HasBlob(im.ctx, archive.HashBytes(alt))
	if err != nil || !has {
		return raw, err
	}
	return alt, nil
}

// bigArchivedForm does what archivedForm does for a message too large
// to hold in memory, when it comes from a file that can be read again
// (Maildir, .eml): one pass finds its line-end form, a second hashes it
// and its other form; if only the other form is archived, the message is
// recorded as that one (done) and its bytes are not stored again.
// Otherwise the file is put back at its start for the normal path.
func (im *importer) bigArchivedForm(x *importBox, m *mailfmt.Message, g *ingester) (done bool, err error) {
	rs, ok := m.Body.(io.ReadSeeker)
	if !ok || im.repo == nil {
		return false, nil
	}
	rewind := func() error {
		_, err := rs.Seek(0, io.SeekStart)
		return err
	}
	defer func() {
		if !done && err == nil {
			err = rewind()
		}
	}()
	crlf, lf, err := mailfmt.ScanLineForm(io.LimitReader(rs, m.Size))
	if err != nil || !crlf && !lf {
		return false, err
	}
	to := mailfmt.LinesCRLF
	if crlf {
		to = mailfmt.LinesLF
	}
	if err := rewind(); err != nil {
		return false, err
	}
	exact, alt := sha256.New(), sha256.New()
	n, err := io.Copy(alt, mailfmt.NewLineConverter(io.TeeReader(io.LimitReader(rs, m.Size), exact), to))
	if err != nil {
		return false, err
	}
	var he, ha archive.Hash
	copy(he[:], exact.Sum(nil))
	copy(ha[:], alt.Sum(nil))
	if has, err := im.repo.HasBlob(im.ctx, he); err != nil || has {
		return false, err
	}
	if has, err := im.repo.HasBlob(im.ctx, ha); err != nil || !has {
		return false, err
	}
	if im.o.DryRun {
		im.seen[ha] = true
		im.tally(x, false, n)
		progress.Send(im.rep, progress.Event{Kind: progress.Item, Account: im.o.Account, Folder: x.fr.Name, UIDL: m.Key, Bytes: n})
		return true, nil
	}
	it := &item{uidl: m.Key, flags: m.Flags, date: m.Date, hash: ha, size: n}
	if err := g.add(it); err != nil {
		return true, fmt.Errorf("%w: %w", errImportStop, err)
	}
	return true, nil
}
