package imapsrv

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestCondStore(t *testing.T) {
	srv := startServer(t, nil)
	for range 4 {
		srv.AddMessage(testUser, "INBOX", []byte("Subject: m\r\n\r\n"), nil, zeroTime)
	}
	c := dial(t, srv, nil)
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatalf("Select(CONDSTORE) = %v", err)
	}
	if sel.HighestModSeq == 0 {
		t.Fatalf("Select(CONDSTORE).HighestModSeq = 0, want > 0")
	}
	since := sel.HighestModSeq

	// Changes by this session and by another one.
	if err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatalf("Store() = %v", err)
	}
	srv.SetFlags(testUser, "INBOX", 4, []string{`\Answered`, "$Done"})

	got := fetch(t, c, imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: since})
	var uids []imap.UID
	for _, m := range got {
		uids = append(uids, m.uid)
		if m.modSeq <= since {
			t.Errorf("FETCH CHANGEDSINCE %d: UID %d MODSEQ %d, want > %d", since, m.uid, m.modSeq, since)
		}
	}
	if !slices.Equal(uids, []imap.UID{2, 4}) {
		t.Errorf("UID FETCH 1:* CHANGEDSINCE %d = %v, want [2 4]", since, uids)
	}

	st, err := c.Status("INBOX", &imap.StatusOptions{HighestModSeq: true, NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("Status(HIGHESTMODSEQ) = %v", err)
	}
	var highest uint64
	for _, m := range got {
		highest = max(highest, m.modSeq)
	}
	if st.HighestModSeq != highest || *st.NumMessages != 4 {
		t.Errorf("Status() = HIGHESTMODSEQ %d MESSAGES %d, want %d 4", st.HighestModSeq, *st.NumMessages, highest)
	}

	modSeqs := fetch(t, c, imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, ModSeq: true})
	if len(modSeqs) != 4 || modSeqs[3].modSeq != srv.Messages(testUser, "INBOX")[3].ModSeq {
		t.Errorf("FETCH MODSEQ = %+v, want 4 messages, UID 4 at %d", modSeqs, srv.Messages(testUser, "INBOX")[3].ModSeq)
	}
	if got := fetch(t, c, imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, ChangedSince: highest}); len(got) != 0 {
		t.Errorf("FETCH CHANGEDSINCE HIGHESTMODSEQ = %d messages, want 0", len(got))
	}
}

func TestRewriteFetch(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"A1 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 12)\r\n",
			"A1 UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-Imapsrv-Changedsince-12)])\r\n"},
		{"A2 FETCH 1 (MODSEQ BODY.PEEK[HEADER.FIELDS (A B)])\r\n",
			"A2 FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-Imapsrv-Modseq)] BODY.PEEK[HEADER.FIELDS (A B)])\r\n"},
		{"A3 FETCH 1:2 FAST (CHANGEDSINCE 1)\r\n",
			"A3 FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-Imapsrv-Changedsince-1)])\r\n"},
		{"A4 FETCH 1 BODY.PEEK[HEADER.FIELDS (A B)] (CHANGEDSINCE 3)\r\n",
			"A4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (A B)] BODY.PEEK[HEADER.FIELDS (X-Imapsrv-Changedsince-3)])\r\n"},
		{"A5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3 VANISHED)\r\n", ""}, // QRESYNC: left for a BAD
		{"A6 FETCH 1 (FLAGS)\r\n", ""},
	}
	for _, tc := range tests {
		got, ok := rewriteFetch([]byte(tc.in))
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if string(got) != want || ok != (tc.want != "") {
			t.Errorf("rewriteFetch(%q) = %q, %v; want %q", strings.TrimSpace(tc.in), got, ok, want)
		}
	}
}
