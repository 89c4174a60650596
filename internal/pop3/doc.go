// Package pop3 is mailkeep's POP3 client (RFC 1939, with CAPA and
// PIPELINING from RFC 2449, STLS from RFC 2595, AUTH from RFC 5034).
//
// It exists because message bytes must come back exactly as the server
// holds them: RETR and TOP stream the body into an io.Writer, undoing
// only the dot-stuffing, so bare LF, NUL, 8-bit bytes and lines of any
// length pass through unchanged, and a message is never held in memory.
// Every read and write has a deadline, every call takes a context, and a
// connection that failed mid-response is marked broken so that later
// calls fail fast instead of reading a desynchronised stream.
//
// The main loop of a backup:
//
//	c := Dial(ctx, "pop.example.com:995", &Options{Security: "tls"})
//	c.Auth(ctx, user, password, "")          // USER/PASS, APOP or SASL
//	uids := c.UIDL(ctx)                      // ErrNoUIDL: fall back to hashes
//	c.RetrMany(ctx, newNums, func(num, r, err) { store(r) })
//	c.DeleMany(ctx, archivedNums)            // only marks them
//	c.Quit(ctx)                              // nil: deletions committed
//
// A Client is not safe for concurrent use; use one per connection. To
// abort a call from elsewhere, cancel its context.
package pop3
