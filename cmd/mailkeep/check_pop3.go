package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mailkeep/mailkeep/internal/config"
	"github.com/mailkeep/mailkeep/internal/pop3"
)

func (g *globals) checkPOP3(ctx context.Context, a *config.Account, r *checkReport) error {
	dial, err := g.env(nil, nil).POP3Dialer(a)
	if err != nil {
		return err
	}
	c, err := dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, name := range []string{"UIDL", "PIPELINING", "TOP", "STLS", "SASL"} {
		if c.HasCap(name) {
			r.caps = append(r.caps, name)
		}
	}
	n, size, err := c.Stat(ctx)
	if err != nil {
		return fmt.Errorf("STAT: %w", err)
	}
	r.folders = append(r.folders, checkFolder{name: "INBOX", messages: uint32(n)})
	r.notes = append(r.notes, fmt.Sprintf("maildrop: %d messages, %s", n, humanBytes(size)))
	if _, err := c.UIDL(ctx); errors.Is(err, pop3.ErrNoUIDL) {
		r.notes = append(r.notes, "server has no UIDL: every backup downloads the whole maildrop again and identifies messages by content (nothing is stored twice); delete or delete_after keeps the maildrop small")
	} else if err != nil {
		return fmt.Errorf("UIDL: %w", err)
	}
	// QUIT without DELE changes nothing on the server (RFC 1939 6).
	return c.Quit(ctx)
}
