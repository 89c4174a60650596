// Package termsafe makes text that comes from outside mailkeep safe to
// print: folder and account names, subjects and senders, server
// greetings, capability strings and error texts a server sent. Printed
// raw, an ESC in a folder name can move the cursor, retitle the terminal
// window or hide the lines before it; a newline can forge a line of
// output. Every sink that writes such text to a terminal, a log line or
// a plain-text report passes it through String (JSON output is escaped
// by encoding/json and needs nothing more).
//
//	fmt.Fprintf(w, "%s/%s: %s\n", termsafe.String(acct), termsafe.String(folder), termsafe.String(err.Error()))
//
// The escapes are Go's (\x1b, \n, \u202e), so the original bytes can be
// read back from what was printed, and a name that needed no escaping is
// printed exactly as it is.
package termsafe
