package backup

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// In-process only: server capabilities switched off, and Gmail.

func TestCleanupNoUIDPlus(t *testing.T) {
	b := newMemBackend(t, &imapsrv.Options{DisableUIDPlus: true})
	var newDel *clMsg
	msgs, cutoff, old := clSetup(t, b, func(inbox, _ []*clMsg) {
		newDel = inbox[0]
		newDel.flags = []string{`\Deleted`}
	})
	repo, _ := clRepo(t)
	res := clRun(t, repo, b.account(cutoff))
	n, _ := count(msgs, old)
	if res.Deleted != 0 || res.Kept != n || res.OK() {
		t.Errorf("without UIDPLUS: deleted %d, kept %d, OK %v; want 0, %d, not OK", res.Deleted, res.Kept, res.OK(), n)
	}
	clServerHolds(t, b, msgs, func(*clMsg) bool { return true })

	a := b.account(cutoff)
	a.AllowExpunge = true
	res = clRun(t, repo, a)
	in, arch := clFolder(t, res, "INBOX"), clFolder(t, res, "Archive/2019")
	ni, _ := count(msgs, inFolder("INBOX", old))
	na, _ := count(msgs, inFolder("Archive/2019", old))
	if in.Deleted != 0 || in.Kept[KeptOtherDeleted] != ni {
		t.Errorf("--allow-expunge, INBOX with another \\Deleted message: deleted %d, kept %v; want 0, %d %s", in.Deleted, in.Kept, ni, KeptOtherDeleted)
	}
	if arch.Deleted != na {
		t.Errorf("--allow-expunge, nothing else \\Deleted: deleted %d, want %d", arch.Deleted, na)
	}
	clExpect(t, b, repo, msgs, func(m *clMsg) bool { return m.folder == "INBOX" || !old(m) })
}

func TestCleanupGmailTrash(t *testing.T) {
	for _, noMove := range []bool{false, true} {
		name := "MOVE"
		if noMove {
			name = "COPY"
		}
		t.Run(name, func(t *testing.T) {
			b := newMemBackend(t, &imapsrv.Options{DisableMove: noMove})
			b.addr = clGmailProxy(t, b.addr)
			msgs, cutoff, old := clSetup(t, b, nil)
			repo, _ := clRepo(t)
			a := b.account(cutoff)
			a.GmailTrash = true
			a.BatchSize = 5
			res := clRun(t, repo, a)
			if !res.OK() || !res.Gmail {
				t.Fatalf("Cleanup(gmail-trash) OK %v (%v), Gmail %v", res.OK(), res.Err(), res.Gmail)
			}
			if n, _ := count(msgs, old); res.Deleted != n {
				t.Errorf("deleted %d, want %d", res.Deleted, n)
			}
			clExpect(t, b, repo, msgs, not(old))
			if trash := b.mem.Messages(b.user, "Trash"); len(trash) != 0 {
				t.Errorf("Trash holds %d messages after the cleanup, want 0 (expunged there)", len(trash))
			}
		})
	}
	t.Run("WarnsWithout", func(t *testing.T) {
		b := newMemBackend(t, nil)
		b.addr = clGmailProxy(t, b.addr)
		_, cutoff, _ := clSetup(t, b, nil)
		repo, _ := clRepo(t)
		rec := &clRec{}
		res := clRunCtx(t, context.Background(), repo, b.account(cutoff), rec)
		if !res.Gmail || !rec.has(progress.Warning, "only removes that label") {
			t.Errorf("Gmail without --gmail-trash: no warning (Gmail %v)", res.Gmail)
		}
	})
	t.Run("RefusedElsewhere", func(t *testing.T) {
		b := newMemBackend(t, nil)
		msgs, cutoff, _ := clSetup(t, b, nil)
		repo, _ := clRepo(t)
		a := b.account(cutoff)
		a.GmailTrash = true
		res := clRun(t, repo, a)
		if res.Fatal == nil || !strings.Contains(res.Fatal.Error(), "not Gmail") {
			t.Errorf("gmail-trash on another server: fatal %v, want a refusal", res.Fatal)
		}
		clServerHolds(t, b, msgs, func(*clMsg) bool { return true })
	})
}

func TestCleanupNeedsCriteria(t *testing.T) {
	b := newMemBackend(t, nil)
	msgs, _, _ := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	for _, a := range []*CleanupAccount{
		b.account(time.Time{}),
		b.account(time.Now().Add(48 * time.Hour)),
		{Name: "acct", Dial: b.dial(""), ByDateHeader: true, LargerThan: 10},
	} {
		if res := clRun(t, repo, a); res.Fatal == nil || res.Deleted != 0 {
			t.Errorf("Cleanup(before %v, larger %d, date-header %v) = fatal %v, deleted %d; want a refusal",
				a.Before, a.LargerThan, a.ByDateHeader, res.Fatal, res.Deleted)
		}
	}
	clServerHolds(t, b, msgs, func(*clMsg) bool { return true })
}

// TestCleanupQuotaDovecot runs against a Dovecot with the quota plugin:
// GETQUOTAROOT before and after.
func TestCleanupQuotaDovecot(t *testing.T) {
	srv := dovecot.Start(t, &dovecot.Options{ExtraConfig: `mail_plugins = $mail_plugins quota
protocol imap {
  mail_plugins = $mail_plugins imap_quota
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=1G
}`})
	b := newDovecotBackend(t, srv)
	msgs, cutoff, old := clSetup(t, b, nil)
	repo, _ := clRepo(t)
	res := clRun(t, repo, b.account(cutoff))
	if !res.OK() {
		t.Fatalf("Cleanup() not OK: %v", res.Err())
	}
	find := func(qs []Quota) *Quota {
		for i := range qs {
			if qs[i].Resource == string(imap.QuotaResourceStorage) {
				return &qs[i]
			}
		}
		return nil
	}
	before, after := find(res.QuotaBefore), find(res.QuotaAfter)
	if before == nil || after == nil {
		t.Fatalf("quota before %v, after %v; want STORAGE in both", res.QuotaBefore, res.QuotaAfter)
	}
	_, freed := count(msgs, old)
	if before.Limit != 1<<20 || after.Usage >= before.Usage || before.Usage-after.Usage < freed/1024-4 {
		t.Errorf("STORAGE %d of %d KiB before, %d after; want the limit 1 GiB and about %d KiB less", before.Usage, before.Limit,
			after.Usage, freed/1024)
	}
	clExpect(t, b, repo, msgs, not(old))
}
