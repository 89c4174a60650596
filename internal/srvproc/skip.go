package srvproc

import (
	"os"
	"testing"
)

// Unavailable skips the test with err's message, or fails it when the
// environment variable requireEnv is "1" (the server is required).
func Unavailable(tb testing.TB, requireEnv string, err error) {
	tb.Helper()
	if os.Getenv(requireEnv) == "1" {
		tb.Fatal(err.Error())
	} else {
		tb.Skip(err.Error())
	}
}

// StartError explains why a server could not run, with its log's last
// lines.
type StartError struct {
	Server     string // "dovecot"
	LogTitle   string // what Log is: "dovecot log"
	RequireEnv string // makes Unavailable fail instead of skip
	Reason     string
	Log        string
}

func (e *StartError) Error() string {
	msg := e.Server + ": cannot start: " + e.Reason + "; set " + e.RequireEnv + "=1 to make this a failure"
	if e.Log != "" {
		msg += "\n--- " + e.LogTitle + " (last lines) ---\n" + e.Log
	}
	return msg
}
