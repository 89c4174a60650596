package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
)

func TestMasked(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Subject: Grüße\r\n\r\nGrüße", "Subject: GrXXXXe\r\n\r\nGrüße"},
		{"Subject: caf\xe9\n\nna\xefve", "Subject: cafX\n\nna\xefve"},
		{"\r\nSubject: \xe9", "\r\nSubject: \xe9"}, // no header at all
		{"\nx\xe9", "\nx\xe9"},
		{"A: \xe9\r\n\rB: \xe9\r\n\r\n\xe9", "A: X\r\n\rB: X\r\n\r\n\xe9"},
		{"only header \xe9", "only header X"},
		{"plain\r\n\r\nbody", "plain\r\n\r\nbody"},
	}
	for _, tt := range tests {
		if got := string(masked([]byte(tt.in))); got != tt.want {
			t.Errorf("masked(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// Streamed byte by byte, the hash is the same.
		mh := newMaskedHasher()
		for i := 0; i < len(tt.in); i++ {
			mh.Write([]byte{tt.in[i]})
		}
		if mh.sum() != archive.Hash(sha256.Sum256([]byte(tt.want))) {
			t.Errorf("maskedHasher(%q) differs from masked()", tt.in)
		}
	}
	if got := maskID("<é@x>"); got != "<XX@x>" {
		t.Errorf("maskID = %q", got)
	}
}

func TestRiskScanner(t *testing.T) {
	for in, want := range map[string]bool{
		"Subject: a\r\n\r\nbody\r\n":       false,
		"Subject: a\r\n\r\nbödy\r\n":       false, // 8-bit in the body is kept
		"Subject: ä\r\n\r\nbody\r\n":       true,
		"Subject: a\r\n\r\nbo\x00dy\r\n":   true,
		"Subject: a\r\n\r\nbody\nmore\r\n": true,
		"\r\nSubject: ä (a body line)\r\n": false,
	} {
		var risky bool
		r := watchRisk(io.NopCloser(strings.NewReader(in)), &risky)
		buf := make([]byte, 3)
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
		if risky != want {
			t.Errorf("risk of %q = %v, want %v", in, risky, want)
		}
	}
}

// mungedCorpus is mail a munging target alters: 8-bit bytes in headers,
// many without Message-ID, some sharing one, one with an 8-bit
// Message-ID, and plain ones it leaves alone.
func mungedCorpus(n int) (raws [][]byte, altered int) {
	for i := 0; i < n; i++ {
		var b bytes.Buffer
		switch i % 4 {
		case 0: // no Message-ID, 8-bit subject
			fmt.Fprintf(&b, "From: Jürgen <j@example.de>\r\nSubject: Grüße %d\r\n\r\nbody %d\r\n", i%7, i)
			altered++
		case 1: // one Message-ID for many, 8-bit
			fmt.Fprintf(&b, "Message-ID: <same@example>\r\nSubject: caf\xe9 %d\r\n\r\nbody %d\r\n", i, i)
			altered++
		case 2: // 8-bit Message-ID
			fmt.Fprintf(&b, "Message-ID: <%d.ü@example>\r\nSubject: x\r\n\r\nbody\r\n", i)
			altered++
		default: // plain, no Message-ID
			fmt.Fprintf(&b, "Subject: plain %d\r\n\r\nbody %d\r\n", i%5, i/5)
		}
		raws = append(raws, b.Bytes())
	}
	return raws, altered
}

// TestAlteredByTarget: a target that munges 8-bit header bytes gets every
// message; the altered copies are named; a restore from an archive whose
// ledger knows nothing of them (a lost ledger, a crash before the
// checkpoint) adopts every copy, altered ones included, and copies none
// again.
func TestAlteredByTarget(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	raws, altered := mungedCorpus(60)
	for i, raw := range raws {
		src.AddMessage("u", "INBOX", raw, nil, time.Date(2020, 1, 1, 0, 0, i, 0, time.UTC))
	}
	// Two identical messages that differ only in their 8-bit header bytes:
	// one message to a munging target.
	src.AddMessage("u", "INBOX", []byte("Subject: \xe4\r\n\r\ntwin\r\n"), nil, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	src.AddMessage("u", "INBOX", []byte("Subject: \xf6\r\n\r\ntwin\r\n"), nil, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	altered += 2
	total := len(raws) + 2
	dst, ta := inproc(t, "new", nil)
	dst.SetMunge8Bit(true)

	repo := newRepo(t)
	if r := sa.backupFn(repo, nil)(context.Background()); !r.OK() {
		t.Fatal(r.Err())
	}
	r := Restore(context.Background(), repo, ta.target(), &Options{Source: "old"}, nil)
	checkResult(t, r, int64(total), 0)
	if got := r.AlteredTotal(); got != int64(altered) {
		t.Errorf("altered %d, want %d", got, altered)
	}
	for _, f := range r.Folders {
		for _, s := range f.Altered {
			if !strings.Contains(s.Reason, `8-bit header bytes stored as "X"`) {
				t.Errorf("altered reason = %q", s.Reason)
			}
		}
	}
	// The ledger knows them: nothing to do.
	r = Restore(context.Background(), repo, ta.target(), &Options{Source: "old"}, nil)
	checkResult(t, r, 0, 0)

	// An archive without the ledger: every copy is found, none appended.
	repo2 := newRepo(t)
	if r := sa.backupFn(repo2, nil)(context.Background()); !r.OK() {
		t.Fatal(r.Err())
	}
	ev := &events{}
	r = Restore(context.Background(), repo2, ta.target(), &Options{Source: "old"}, ev)
	checkResult(t, r, 0, int64(total))
	if got := r.AlteredTotal(); got != int64(altered) {
		t.Errorf("adoption: altered %d, want %d", got, altered)
	}
	if n := len(dst.Messages("u", "INBOX")); n != total {
		t.Errorf("target holds %d messages, want %d (no duplicates)", n, total)
	}
	mungedTargetCheck(t, dst, src)
}

// mungedTargetCheck: the target holds each source message exactly as
// often as the source, compared in the masked form.
func mungedTargetCheck(t *testing.T, dst, src *imapsrv.Server) {
	t.Helper()
	want := map[archive.Hash]int{}
	for _, m := range src.Messages("u", "INBOX") {
		want[archive.HashBytes(masked(m.Raw))]++
	}
	got := map[archive.Hash]int{}
	for _, m := range dst.Messages("u", "INBOX") {
		got[archive.HashBytes(masked(m.Raw))]++
	}
	for h, n := range want {
		if got[h] != n {
			t.Errorf("message %s: target has %d, source %d", h.String()[:12], got[h], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("target has %d distinct messages, source %d", len(got), len(want))
	}
}

// TestAlteredNotOurRepair: --repair-line-endings changes are listed as
// repaired, not as altered by the target; a message both repaired and
// munged is altered (its 8-bit header bytes), once.
func TestAlteredNotOurRepair(t *testing.T) {
	src, sa := inproc(t, "old", nil)
	src.AddMessage("u", "INBOX", []byte("Subject: lf only\n\nbody\n"), nil, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	src.AddMessage("u", "INBOX", []byte("Subject: lf and \xe9\n\nbody\n"), nil, time.Date(2020, 1, 1, 0, 0, 1, 0, time.UTC))
	dst, ta := inproc(t, "new", nil)
	dst.SetMunge8Bit(true)
	repo := newRepo(t)
	if r := sa.backupFn(repo, nil)(context.Background()); !r.OK() {
		t.Fatal(r.Err())
	}
	r := Restore(context.Background(), repo, ta.target(), &Options{Source: "old", RepairLineEndings: true}, nil)
	checkResult(t, r, 2, 0)
	f := r.Folders[0]
	if len(f.Repaired) != 2 || len(f.Altered) != 1 || !strings.Contains(f.Altered[0].Reason, `1 raw 8-bit header bytes stored as "X"`) {
		t.Errorf("repaired %v, altered %v; want 2 repaired, 1 altered (its 8-bit byte)", f.Repaired, f.Altered)
	}
	// A lost ledger: both are adopted, the repaired one not called altered.
	repo2 := newRepo(t)
	if r := sa.backupFn(repo2, nil)(context.Background()); !r.OK() {
		t.Fatal(r.Err())
	}
	r = Restore(context.Background(), repo2, ta.target(), &Options{Source: "old", RepairLineEndings: true}, nil)
	checkResult(t, r, 0, 2)
	if n := r.AlteredTotal(); n != 1 {
		t.Errorf("adoption: altered %d, want 1", n)
	}
}
