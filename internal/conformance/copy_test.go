package conformance

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/restore"
)

// target is an account as restore and migrate write into it.
func target(a *Account) *restore.Target {
	return &restore.Target{Name: a.Server + "-target", Dial: a.Dial, Login: a.Login(), Connections: 3, Backoff: 10 * time.Millisecond}
}

// checkCopy checks a restore or migrate run into dst: it went through;
// exactly the messages dst refuses (by Probe) are skipped, each with dst's
// reason; every folder kept its name (canonically) unless mapped by its
// role; and dst now serves each message of src as dst serves those bytes,
// with its flags and date. It returns the folder mapping the run used.
func checkCopy(t *testing.T, r *restore.Result, src State, want Expected, dst *Account) folderMap {
	t.Helper()
	if r.Fatal != nil || len(r.Errors) > 0 || (r.Backup != nil && !r.Backup.OK()) {
		t.Fatalf("run failed: %v", r.Err())
	}
	in, on, _, adopted, _, skipped, _ := r.Totals()
	if adopted != 0 {
		t.Errorf("adopted %d messages, want none (the ledger knows what it copied; the rest was not there)", adopted)
	}
	refused := int64(want.RefusedCount(src))
	if skipped != refused || in != on+skipped {
		t.Errorf("in source %d, on target %d, skipped %d; want %d skipped (refused by %s one by one)", in, on, skipped, refused, dst.Server)
	}
	fm := folderMap{}
	for _, f := range r.Folders {
		for _, s := range f.Skipped {
			v, ok := want.Refused[s.Hash.String()]
			switch {
			case !ok:
				t.Errorf("skipped %s, which %s takes when APPENDed alone", s, dst.Server)
			case !strings.Contains(s.Reason, untimed(v.Reason)):
				t.Errorf("skipped %s: reason %q, want %s's own %q", s, s.Reason, dst.Server, v.Reason)
			}
		}
		for _, sf := range f.Sources {
			// sf is the source's name for the folder: its canonical form
			// must be the target's, whatever the layouts, unless the
			// folder went to the target's folder of the same role.
			from, to := canonicalAny(sf), dst.Canonical(f.Target)
			if from != to && f.How != "special-use" {
				t.Errorf("source folder %q went to %q (%s), want %q", sf, f.Target, f.How, dst.Name(from))
			}
			fm[from] = to
		}
	}
	if n := Compare(t, dst.Server, fm.apply(want.State), Snapshot(t, dst), CompareOpts{ZoneLost: dst.ZoneLost}); n == 0 {
		t.Errorf("compared no messages")
	}
	return fm
}

// checkAltered checks a run that copied everything: the copies dst stores
// with other bytes than sent (Cyrus' munge8bit) are named and counted,
// exactly those.
func checkAltered(t *testing.T, r *restore.Result, want Expected, dst *Account) {
	t.Helper()
	if got := r.AlteredTotal(); got != int64(want.Altered) {
		t.Errorf("altered by the target: %d counted, want %d (by Probe)", got, want.Altered)
	}
	for _, f := range r.Folders {
		for _, a := range f.Altered {
			if !want.AlteredHash[a.Hash.String()] {
				t.Errorf("counted as altered: %s, which %s serves as sent", a, dst.Server)
			}
		}
	}
}

// untimed drops the timing Dovecot adds to its answers ("... (0.002 +
// 0.004 + 0.005 secs).").
func untimed(reason string) string {
	return timing.ReplaceAllString(reason, "")
}

var timing = regexp.MustCompile(`\s*\([0-9.+ ]+ secs\)\.?$`)

// folderMap maps canonical source folder names to canonical target names.
type folderMap map[string]string

// apply renames the folders of s, merging those mapped to one target.
func (fm folderMap) apply(s State) State {
	out := State{}
	for name, f := range s {
		to := name
		if m, ok := fm[name]; ok {
			to = m
		}
		nf := out[to]
		if nf == nil {
			nf = &Folder{Msgs: []Msg{}}
			out[to] = nf
		}
		nf.Msgs = append(nf.Msgs, f.Msgs...)
	}
	return out
}

// canonicalAny is a source folder name in canonical form, whatever the
// source's layout ("INBOX.Archive.2019", "Archive/2019").
func canonicalAny(name string) string {
	if strings.HasPrefix(name, "INBOX.") {
		return strings.ReplaceAll(strings.TrimPrefix(name, "INBOX."), ".", "/")
	}
	return name
}
