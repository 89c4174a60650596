// Package faultproxy is a TCP proxy on 127.0.0.1 that breaks connections on
// purpose, so that tests can check how mailkeep recovers from a server that
// stalls mid-FETCH, drops mid-message or sends what the IMAP library does
// not understand.
//
//	p, _ := faultproxy.New(srv.Addr())
//	defer p.Close()
//	p.Set(faultproxy.Fault{Action: faultproxy.Drop, After: 5000, Count: 1})
//	... run a backup against p.Addr(): the first connection dies after
//	    5000 bytes from the server, the retry goes through ...
//	p.Stats() // connections, bytes, faults fired
//
// A fault counts the bytes forwarded in its direction from the moment it
// is set on open connections, and from the start on new ones. Only one
// fault is armed at a time; Set replaces it, Clear removes it.
package faultproxy
