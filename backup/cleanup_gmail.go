package backup

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// trashBatch moves a batch to the \Trash folder (Gmail: the only way to
// delete rather than unlabel). With MOVE (RFC 6851) that is UID MOVE;
// otherwise UID COPY, checked, then UID STORE + UID EXPUNGE. go-imap's
// Move is never used without MOVE (LIBRARIES.md).
func (c *cleaner) trashBatch(fx *cleanFolder, uv uint32, batch []candidate) error {
	if err := c.intend(fx, uv, batch); err != nil {
		return err
	}
	set := uidSet(candUIDs(batch))
	var destUV uint32
	var dest imap.UIDSet
	if c.conn.Caps().Has(imap.CapMove) {
		mv := c.conn.Move(set, c.trash)
		var md *imapclient.MoveData
		err := c.whileServerWorks(fx, uv, func() (err error) {
			md, err = mv.Wait()
			return err
		})
		if err != nil {
			return c.trashFailed(fx, uv, batch, "uid move", err)
		}
		destUV = md.UIDValidity
		dest, _ = md.DestUIDs.(imap.UIDSet)
	} else {
		cd, err := c.conn.Copy(set, c.trash).Wait()
		if err != nil {
			return c.trashFailed(fx, uv, batch, "uid copy", err)
		}
		destUV, dest = cd.UIDValidity, cd.DestUIDs
		if err := c.conn.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: deletedFlag}, nil).Close(); err != nil {
			return fmt.Errorf("uid store +flags \\Deleted: %w", err)
		}
		if err := c.stored(fx, batch); err != nil {
			return err
		}
		if err := c.conn.UIDExpunge(set).Close(); err != nil {
			return fmt.Errorf("uid expunge: %w", err)
		}
	}
	if destUV == 0 || len(dest) == 0 {
		c.warn(fx.mb.name, fmt.Sprintf("no COPYUID from the server: %d messages are in %s but could not be expunged there", len(batch), c.trash))
	} else {
		if fx.trashUV != 0 && fx.trashUV != destUV {
			fx.trashUIDs = nil
		}
		fx.trashUV = destUV
		fx.trashUIDs = append(fx.trashUIDs, dest...)
	}
	return c.confirm(fx, uv, batch)
}

// trashFailed handles a refused COPY or MOVE: the server said NO, so
// nothing moved; the intents are dropped and the batch kept. A broken
// connection is returned for a retry.
func (c *cleaner) trashFailed(fx *cleanFolder, uv uint32, batch []candidate, op string, err error) error {
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return fmt.Errorf("%s to %s: %w", op, c.trash, err)
	}
	if cerr := c.repo.ClearPendingDeletes(c.ctx, fx.af.ID, uv, candUIDs(batch)); cerr != nil {
		return cerr
	}
	for _, cd := range batch {
		c.keep(fx, cd.serverMsg, cd.e, KeptFailed, fmt.Sprintf("%s to %s: %v", op, c.trash, err))
	}
	return c.repo.Commit(c.ctx)
}

// purgeTrash expunges from \Trash exactly the messages this folder moved
// there (COPYUID told which UIDs they got).
func (c *cleaner) purgeTrash(fx *cleanFolder) error {
	sel, err := c.conn.Select(c.trash, nil).Wait()
	if err != nil {
		return err
	}
	if sel.UIDValidity != fx.trashUV {
		c.warn(c.trash, fmt.Sprintf("UIDVALIDITY changed; %d messages moved here stay until the server empties the Trash", len(fx.trashUIDs)))
		fx.trashUIDs = nil
		return nil
	}
	if err := c.conn.Store(fx.trashUIDs, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: deletedFlag}, nil).Close(); err != nil {
		return fmt.Errorf("%s: uid store +flags \\Deleted: %w", c.trash, err)
	}
	if err := c.conn.UIDExpunge(fx.trashUIDs).Close(); err != nil {
		return fmt.Errorf("%s: uid expunge: %w", c.trash, err)
	}
	fx.trashUIDs = nil
	return nil
}
