package pop3srv

import (
	"crypto/tls"
	"strings"
	"time"
)

func (ss *session) capa() error {
	o := &ss.srv.opts
	if o.DisableCAPA {
		return ss.reply("-ERR unknown command")
	}
	caps := []string{"TOP", "RESP-CODES", "AUTH-RESP-CODE"}
	if !o.DisableUSER {
		caps = append(caps, "USER")
	}
	if !o.DisableUIDL {
		caps = append(caps, "UIDL")
	}
	if !o.DisablePipelining {
		caps = append(caps, "PIPELINING")
	}
	if o.STLS && !ss.tls && ss.user == "" {
		caps = append(caps, "STLS")
	}
	if len(o.SASL) > 0 {
		caps = append(caps, "SASL "+strings.Join(o.SASL, " "))
	}
	caps = append(caps, "IMPLEMENTATION mailkeep-pop3srv")
	if err := ss.reply("+OK capability list follows"); err != nil {
		return err
	}
	for _, c := range caps {
		if err := ss.reply(c); err != nil {
			return err
		}
	}
	return ss.reply(".")
}

func (ss *session) stls() error {
	if !ss.srv.opts.STLS || ss.tls {
		return ss.reply("-ERR STLS not available")
	}
	if err := ss.reply("+OK begin TLS negotiation"); err != nil {
		return err
	}
	if err := ss.bw.Flush(); err != nil {
		return err
	}
	// RFC 2595 section 4: discard anything pipelined before TLS.
	tc := tls.Server(ss.conn, ss.srv.tlsConf)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	ss.setConn(tc)
	ss.tls = true
	ss.userArg = ""
	return nil
}
