package imapconn

import (
	"fmt"
	"testing"
)

func TestMailboxArg(t *testing.T) {
	for in, want := range map[string]string{
		"INBOX":          "INBOX",
		"inbox":          "INBOX",
		"Entwürfe":       `"Entw&APw-rfe"`,
		`a"b\c`:          `"a\"b\\c"`,
		"Projects/Q3 Ü!": `"Projects/Q3 &ANw-!"`,
	} {
		if got := MailboxArg(in); got != want {
			t.Errorf("MailboxArg(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseAppendUID(t *testing.T) {
	for _, tc := range []struct {
		args string
		n    int
		want string
	}{
		{"38505 3955", 1, "38505 [3955]"},
		{"38505 3955:3957", 3, "38505 [3955 3956 3957]"},
		{"38505 1,5:6", 3, "38505 [1 5 6]"},
		{"38505 3955:3957", 2, "38505 []"},
		{"x 1", 1, "0 []"},
	} {
		v, uids := ParseAppendUID(tc.args, tc.n)
		if got := fmt.Sprintf("%d %v", v, uids); got != tc.want {
			t.Errorf("ParseAppendUID(%q, %d) = %s, want %s", tc.args, tc.n, got, tc.want)
		}
	}
}
