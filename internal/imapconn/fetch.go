package imapconn

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// EachMessage runs fn on every message of a FETCH, each one buffered (use
// it for flags, sizes and headers, never for whole bodies), and closes the
// command. It stops at fn's first error and returns it; otherwise it
// returns the command's own error, which is where a dropped connection
// shows (LIBRARIES.md).
func EachMessage(fc *imapclient.FetchCommand, fn func(*imapclient.FetchMessageBuffer) error) error {
	for {
		msg := fc.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err == nil {
			err = fn(buf)
		}
		if err != nil {
			fc.Close()
			return err
		}
	}
	return fc.Close()
}

// FlagStrings is flags as plain strings, as the archive keeps them.
func FlagStrings(flags []imap.Flag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = string(f)
	}
	return out
}
