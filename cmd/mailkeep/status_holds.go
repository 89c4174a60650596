package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// holdings is what the archive holds of one account now, whatever its
// last run did.
type holdings struct {
	Messages  int64 `json:"messages"`   // every view shows them
	Bytes     int64 `json:"bytes"`      // their raw size
	OnServer  int64 `json:"on_server"`  // of Messages, on the server at the last backup
	OffServer int64 `json:"off_server"` // of Messages, taken off the server by mailkeep (POP3 delete, cleanup)
	Gone      int64 `json:"gone"`       // deleted on the server since (kept in the archive, not in Messages)
	Folders   int   `json:"folders"`
}

func holdingsOf(ctx context.Context, repo *archive.Repo, account string) (*holdings, error) {
	stats, err := repo.Stats(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("archive of %s: %w", account, err)
	}
	h := &holdings{Folders: len(stats)}
	for _, s := range stats {
		h.Messages += s.Messages
		h.Bytes += s.Size
		h.OffServer += s.OffServer
		h.Gone += s.Gone
	}
	h.OnServer = h.Messages - h.OffServer
	return h, nil
}

func (h *holdings) String() string {
	s := fmt.Sprintf("archive holds %d messages, %s (%d on the server, %d taken off it by mailkeep", h.Messages, humanBytes(h.Bytes), h.OnServer, h.OffServer)
	if h.Gone > 0 {
		s += fmt.Sprintf(", %d more deleted on the server", h.Gone)
	}
	return s + ")"
}

// interruptedAfter returns when the account's newest backup was
// interrupted, if it was and it is newer than the last good one.
func interruptedAfter(h *accountHealth) *time.Time {
	b := h.LastBackup
	if b == nil || !b.Interrupted() {
		return nil
	}
	if s := h.LastSuccess; s != nil && !b.Finished.After(s.Finished) {
		return nil
	}
	t := b.Finished
	return &t
}
