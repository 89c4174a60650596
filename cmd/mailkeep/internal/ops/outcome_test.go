package ops

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mailkeep/mailkeep/backup"
)

func TestExitCode(t *testing.T) {
	acct := func(s State) *Account { return &Account{Name: "a", State: s} }
	for _, tc := range []struct {
		name string
		o    Outcome
		want int
	}{
		{"nothing to do", Outcome{}, ExitOK},
		{"all done", Outcome{Accounts: []*Account{acct(OK), acct(OK)}}, ExitOK},
		{"one partly", Outcome{Accounts: []*Account{acct(OK), acct(Partial)}}, ExitPartial},
		{"one failed, one done", Outcome{Accounts: []*Account{acct(OK), acct(Failed)}}, ExitPartial},
		{"every account failed", Outcome{Accounts: []*Account{acct(Failed), acct(Failed)}}, ExitFailed},
		{"the operation failed", Outcome{Failed: true, Accounts: []*Account{acct(OK)}}, ExitFailed},
		{"usage", Outcome{Usage: true, Failed: true}, ExitUsage},
		{"interrupted", Outcome{Interrupted: true, Accounts: []*Account{acct(OK)}}, ExitInterrupted},
		{"usage wins over interrupted", Outcome{Usage: true, Interrupted: true}, ExitUsage},
	} {
		if got := tc.o.ExitCode(); got != tc.want {
			t.Errorf("%s: ExitCode() = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestDescribeNamesThePlaceOnce(t *testing.T) {
	for _, tc := range []struct {
		where string
		err   error
		want  string
	}{
		{"evil/INBOX", errors.New("evil/INBOX: select: NO"), "evil/INBOX: select: NO"},
		{"evil/INBOX", errors.New("evil/INBOX: evil/INBOX: select: NO"), "evil/INBOX: select: NO"},
		{"evil/INBOX uid 7", errors.New("evil/INBOX uid 7: fetch: EOF"), "evil/INBOX uid 7: fetch: EOF"},
		{"evil/INBOX", errors.New("evil: login: refused"), "evil/INBOX: login: refused"},
		{"evil", errors.New("select: NO"), "evil: select: NO"},
		{"evil", fmt.Errorf("joined: %w", errors.Join(errors.New("a"), errors.New("evil: b"))), "evil: joined: a; b"},
		{"", errors.New("evil: x"), "evil: x"},
		{"alice/Archive/2019", errors.New("alice/Archive/2019: gone"), "alice/Archive/2019: gone"},
		{"eve/INBOX", errors.New("evil/INBOX: x"), "eve/INBOX: evil/INBOX: x"},
	} {
		if got := Describe(tc.where, tc.err); got != tc.want {
			t.Errorf("Describe(%q, %q) = %q, want %q", tc.where, tc.err, got, tc.want)
		}
	}
}

// An account where every folder failed is a failure, not "partly done"
// (issue 11); one good folder makes it partial.
func TestBackupEveryFolderFailed(t *testing.T) {
	bad := errors.New("evil/INBOX: select: NO")
	r := &backup.Result{Account: "evil", Folders: []backup.FolderResult{{Name: "INBOX", Err: bad}, {Name: "Sent", Err: bad}},
		Errors: []error{bad, bad}}
	if a := backupAccount(r); a.State != Failed {
		t.Errorf("every folder failed: state %v, want failed", a.State)
	}
	o := &Outcome{Accounts: []*Account{backupAccount(r)}}
	if got := o.ExitCode(); got != ExitFailed {
		t.Errorf("every folder failed: ExitCode() = %d, want 1", got)
	}
	r.Folders[1].Err = nil
	r.Errors = r.Errors[:1]
	if a := backupAccount(r); a.State != Partial {
		t.Errorf("one folder failed of two: state %v, want partial", a.State)
	}
}
