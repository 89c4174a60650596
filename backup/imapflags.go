package backup

import (
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// syncFlags brings the stored flags of messages up to oldLast up to date:
// with CONDSTORE only what changed since the stored HIGHESTMODSEQ (RFC
// 7162 3.1.4), otherwise one FLAGS sweep over the folder.
func (b *imapBackup) syncFlags(fx *folderRun, oldLast uint32, modseq uint64) error {
	f := fx.f
	opts := &imap.FetchOptions{UID: true, Flags: true, ModSeq: b.condstore}
	if b.condstore && f.HighestModSeq != 0 {
		if modseq == f.HighestModSeq {
			return nil
		}
		opts.ChangedSince = f.HighestModSeq
	}
	stored, err := b.repo.MessageFlags(b.ctx, f.ID, f.UIDValidity)
	if err != nil {
		return err
	}
	fc := b.conn.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: imap.UID(oldLast)}}, opts)
	return imapconn.EachMessage(fc, func(buf *imapclient.FetchMessageBuffer) error {
		uid := uint32(buf.UID)
		old, ok := stored.Get(uid)
		flags := imapconn.FlagStrings(buf.Flags)
		if !ok || archive.JoinFlags(flags) == old {
			return nil
		}
		if err := b.repo.SetFlags(b.ctx, f.ID, f.UIDValidity, uid, flags); err != nil {
			return err
		}
		fx.fr.Flags++
		b.res.Flags++
		return nil
	})
}

// findGone marks messages the server no longer has. When the server's
// count equals the archive's, nothing can have gone (new messages would
// have raised UIDNEXT, and those were fetched), so no UID list is needed.
func (b *imapBackup) findGone(fx *folderRun, serverCount uint32) error {
	f := fx.f
	present, err := b.repo.PresentUIDs(b.ctx, f.ID, f.UIDValidity)
	if err != nil {
		return err
	}
	if uint32(len(present)) == serverCount {
		return nil
	}
	var onServer []imap.UID
	if serverCount > 0 {
		sd, err := b.conn.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return err
		}
		onServer = sd.AllUIDs()
	}
	slices.Sort(onServer)
	var gone []uint32
	for _, u := range present {
		if _, found := slices.BinarySearch(onServer, imap.UID(u)); !found {
			gone = append(gone, u)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := b.repo.MarkGone(b.ctx, f.ID, f.UIDValidity, gone, nil, archive.GoneExpunged, b.repo.Now()); err != nil {
		return err
	}
	fx.fr.Gone += int64(len(gone))
	b.res.Gone += int64(len(gone))
	return nil
}

// dryRun counts what a real run would fetch.
func (b *imapBackup) dryRun(fx *folderRun) error {
	var last uint32
	var uv uint32
	if b.acct != nil {
		if f, err := b.repo.Folders(b.ctx, b.acct); err == nil {
			for _, x := range f {
				if x.Name == fx.mb.name {
					last, uv = x.LastUID, x.UIDValidity
				}
			}
		}
	}
	sel, err := b.conn.Select(fx.mb.name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return err
	}
	if uv != sel.UIDValidity {
		last = 0
	}
	if sel.NumMessages == 0 || (sel.UIDNext != 0 && last+1 >= uint32(sel.UIDNext)) {
		progress.Send(b.rep, progress.Event{Kind: progress.FolderDone, Account: b.a.Name, Folder: fx.mb.name, Text: "would fetch 0 messages"})
		return nil
	}
	fc := b.conn.Fetch(imap.UIDSet{imap.UIDRange{Start: imap.UID(last + 1), Stop: 0}}, &imap.FetchOptions{UID: true, RFC822Size: true})
	err = imapconn.EachMessage(fc, func(buf *imapclient.FetchMessageBuffer) error {
		if uint32(buf.UID) > last {
			fx.fr.New++
			fx.fr.Bytes += buf.RFC822Size
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.res.New += fx.fr.New
	b.res.Bytes += fx.fr.Bytes
	progress.Send(b.rep, progress.Event{Kind: progress.FolderDone, Account: b.a.Name, Folder: fx.mb.name,
		Total: fx.fr.New, TotalBytes: fx.fr.Bytes, Text: fmt.Sprintf("would fetch %d messages, %d bytes", fx.fr.New, fx.fr.Bytes)})
	return nil
}
