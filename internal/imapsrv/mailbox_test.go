package imapsrv

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func listAll(t *testing.T, c *imapclient.Client, opts *imap.ListOptions) map[string]*imap.ListData {
	t.Helper()
	list, err := c.List("", "*", opts).Collect()
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	out := map[string]*imap.ListData{}
	for _, l := range list {
		out[l.Mailbox] = l
	}
	return out
}

func TestListSpecialUse(t *testing.T) {
	srv := startServer(t, nil)
	for _, mb := range []struct {
		name string
		use  imap.MailboxAttr
	}{
		{"Sent Items", imap.MailboxAttrSent},
		{"Drafts", imap.MailboxAttrDrafts},
		{"Deleted", imap.MailboxAttrTrash},
		{"Spam", imap.MailboxAttrJunk},
		{"All Mail", imap.MailboxAttrAll},
	} {
		if err := srv.AddMailbox(testUser, mb.name, mb.use); err != nil {
			t.Fatalf("AddMailbox(%q) = %v", mb.name, err)
		}
	}
	srv.AddMailbox(testUser, "Projects/2024/Q1")
	srv.AddMailbox(testUser, "Caf\u00e9")
	c := dial(t, srv, nil)
	if err := c.Create("Old Mail", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrArchive}}).Wait(); err != nil {
		t.Fatalf("Create(USE \\Archive) = %v", err)
	}
	got := listAll(t, c, &imap.ListOptions{ReturnSpecialUse: true})

	tests := []struct {
		name     string
		want     []imap.MailboxAttr
		wantNone bool
	}{
		{name: "INBOX"},
		{name: "Sent Items", want: []imap.MailboxAttr{imap.MailboxAttrSent}},
		{name: "Drafts", want: []imap.MailboxAttr{imap.MailboxAttrDrafts}},
		{name: "Deleted", want: []imap.MailboxAttr{imap.MailboxAttrTrash}},
		{name: "Spam", want: []imap.MailboxAttr{imap.MailboxAttrJunk}},
		{name: "All Mail", want: []imap.MailboxAttr{imap.MailboxAttrAll}},
		{name: "Old Mail", want: []imap.MailboxAttr{imap.MailboxAttrArchive}},
		{name: "Projects", want: []imap.MailboxAttr{imap.MailboxAttrNoSelect, imap.MailboxAttrHasChildren}},
		{name: "Projects/2024", want: []imap.MailboxAttr{imap.MailboxAttrNoSelect}},
		{name: "Projects/2024/Q1", want: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}},
		{name: "Caf\u00e9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := got[tc.name]
			if l == nil {
				t.Fatalf("List() has no %q; got %v", tc.name, got)
			}
			if l.Delim != '/' {
				t.Errorf("List() delimiter = %q, want /", l.Delim)
			}
			for _, a := range tc.want {
				if !slices.Contains(l.Attrs, a) {
					t.Errorf("List() attrs of %q = %v, want %s", tc.name, l.Attrs, a)
				}
			}
		})
	}
	if len(got) != len(tests) {
		t.Errorf("List() = %d mailboxes, want %d", len(got), len(tests))
	}
	if _, err := c.Select("Projects", nil).Wait(); err == nil {
		t.Errorf("Select(\\Noselect parent) = nil, want an error")
	}
	for _, mb := range srv.Mailboxes(testUser) {
		if mb.Name == "Old Mail" && !slices.Equal(mb.SpecialUse, []imap.MailboxAttr{imap.MailboxAttrArchive}) {
			t.Errorf("Mailboxes() special-use of Old Mail = %v, want \\Archive", mb.SpecialUse)
		}
	}
}

func TestListStatus(t *testing.T) {
	srv := startServer(t, nil)
	srv.AddMessage(testUser, "INBOX", []byte("12345"), []string{`\Seen`}, time.Time{})
	srv.AddMessage(testUser, "INBOX", []byte("123"), nil, time.Time{})
	c := dial(t, srv, nil)
	got := listAll(t, c, &imap.ListOptions{ReturnStatus: &imap.StatusOptions{
		NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, Size: true,
	}})
	st := got["INBOX"].Status
	if st == nil {
		t.Fatalf("List(RETURN STATUS) INBOX status = nil")
	}
	if *st.NumMessages != 2 || st.UIDNext != 3 || *st.NumUnseen != 1 || *st.Size != 8 || st.UIDValidity != srv.UIDValidity(testUser, "INBOX") {
		t.Errorf("List(RETURN STATUS) = messages %d uidnext %d unseen %d size %d uidvalidity %d, want 2 3 1 8 %d",
			*st.NumMessages, st.UIDNext, *st.NumUnseen, *st.Size, st.UIDValidity, srv.UIDValidity(testUser, "INBOX"))
	}
}

func TestMailboxCommands(t *testing.T) {
	srv := startServer(t, nil)
	srv.AddMailbox(testUser, "A")
	srv.AddMailbox(testUser, "A/B")
	uid := srv.AddMessage(testUser, "A", []byte("Subject: a\r\n\r\n"), nil, time.Time{})
	uidValidity := srv.UIDValidity(testUser, "A")
	c := dial(t, srv, nil)

	steps := []struct {
		name string
		run  func() error
	}{
		{"rename", func() error { return c.Rename("A", "Z", nil).Wait() }},
		{"subscribe", func() error { return c.Subscribe("Z/B").Wait() }},
		{"unsubscribe", func() error { return c.Unsubscribe("Z").Wait() }},
		{"create", func() error { return c.Create("New/", nil).Wait() }},
		{"delete", func() error { return c.Delete("New").Wait() }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s = %v", s.name, err)
		}
	}
	if got := srv.UIDValidity(testUser, "Z"); got != uidValidity {
		t.Errorf("UIDValidity(Z) after rename = %d, want %d", got, uidValidity)
	}
	if msgs := srv.Messages(testUser, "Z"); len(msgs) != 1 || msgs[0].UID != uid {
		t.Errorf("Messages(Z) after rename = %v, want UID %d", msgs, uid)
	}
	var names []string
	for _, mb := range srv.Mailboxes(testUser) {
		names = append(names, mb.Name+map[bool]string{true: "+", false: ""}[mb.Subscribed])
	}
	if got, want := strings.Join(names, " "), "INBOX+ Z Z/B+"; got != want {
		t.Errorf("Mailboxes() = %q, want %q", got, want)
	}
	subs := listAll(t, c, &imap.ListOptions{SelectSubscribed: true})
	if len(subs) != 2 || subs["Z/B"] == nil || subs["INBOX"] == nil {
		t.Errorf("List(SUBSCRIBED) = %v, want INBOX and Z/B", subs)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Errorf("Delete(INBOX) = nil, want an error")
	}
	if err := c.Create("Z", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("Create(Z) = %v, want NO [ALREADYEXISTS]", err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("Namespace() = %+v, %v; want one personal namespace with /", ns, err)
	}
	st, err := c.Status("Z", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true}).Wait()
	if err != nil || *st.NumMessages != 1 || st.UIDNext != 2 || st.UIDValidity != uidValidity {
		t.Errorf("Status(Z) = %+v, %v", st, err)
	}
}

func TestCopyMoveExpunge(t *testing.T) {
	srv := startServer(t, nil)
	srv.AddMailbox(testUser, "Archive", imap.MailboxAttrArchive)
	srv.AddMessage(testUser, "Archive", []byte("pre-existing"), nil, time.Time{})
	var raws [][]byte
	for i := range 4 {
		raw := []byte("Subject: " + string(rune('a'+i)) + "\r\n\r\n")
		raws = append(raws, raw)
		srv.AddMessage(testUser, "INBOX", raw, []string{"$Kw"}, time.Time{})
	}
	c := dial(t, srv, nil)
	mustSelect(t, c, "INBOX")

	cp, err := c.Copy(imap.UIDSetNum(1, 2), "Archive").Wait()
	if err != nil {
		t.Fatalf("Copy() = %v", err)
	}
	if cp.UIDValidity != srv.UIDValidity(testUser, "Archive") || cp.SourceUIDs.String() != "1:2" || cp.DestUIDs.String() != "2:3" {
		t.Errorf("COPYUID = %d %s %s, want %d 1:2 2:3", cp.UIDValidity, cp.SourceUIDs, cp.DestUIDs, srv.UIDValidity(testUser, "Archive"))
	}
	mv, err := c.Move(imap.UIDSetNum(3), "Archive").Wait()
	if err != nil {
		t.Fatalf("Move() = %v", err)
	}
	if mv.SourceUIDs.String() != "3" || mv.DestUIDs.String() != "4" {
		t.Errorf("MOVE COPYUID = %s %s, want 3 4", mv.SourceUIDs, mv.DestUIDs)
	}
	// UID EXPUNGE takes only the UIDs named, not every \Deleted message.
	if err := c.Store(imap.UIDSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatalf("Store() = %v", err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(2)).Close(); err != nil {
		t.Fatalf("UIDExpunge() = %v", err)
	}
	var uids []uint32
	for _, m := range srv.Messages(testUser, "INBOX") {
		uids = append(uids, m.UID)
	}
	if !slices.Equal(uids, []uint32{1, 4}) {
		t.Errorf("INBOX UIDs after MOVE and UID EXPUNGE = %v, want [1 4]", uids)
	}
	arch := srv.Messages(testUser, "Archive")
	if len(arch) != 4 || string(arch[3].Raw) != string(raws[2]) || !slices.Equal(arch[3].Flags, []string{"$Kw"}) {
		t.Errorf("Archive after COPY and MOVE = %v", arch)
	}
	if data := mustSelect(t, c, "INBOX"); data.NumMessages != 2 {
		t.Errorf("Select(INBOX).NumMessages = %d, want 2", data.NumMessages)
	}
	// A bare EXPUNGE takes every \Deleted message.
	if err := c.Expunge().Close(); err != nil {
		t.Fatalf("Expunge() = %v", err)
	}
	if msgs := srv.Messages(testUser, "INBOX"); len(msgs) != 1 || msgs[0].UID != 4 {
		t.Errorf("INBOX after EXPUNGE = %v, want only UID 4", msgs)
	}
}

func TestSearch(t *testing.T) {
	srv := startServer(t, nil)
	utc := time.UTC
	srv.AddMessage(testUser, "INBOX", []byte("Message-ID: <one@example.org>\r\nSubject: first\r\n\r\nhello\r\n"), []string{`\Seen`}, time.Date(2020, 1, 10, 12, 0, 0, 0, utc))
	srv.AddMessage(testUser, "INBOX", []byte("Message-ID: <two@example.org>\r\nSubject: second\r\n\r\n"+strings.Repeat("x", 5000)), nil, time.Date(2021, 6, 1, 0, 30, 0, 0, time.FixedZone("", 2*3600)))
	srv.AddMessage(testUser, "INBOX", []byte("Subject: third, no id\r\n\r\nhello again\r\n"), []string{"$Work"}, time.Date(2022, 2, 2, 0, 0, 0, 0, utc))
	c := dial(t, srv, nil)
	mustSelect(t, c, "INBOX")

	tests := []struct {
		name     string
		criteria imap.SearchCriteria
		want     []imap.UID
	}{
		{"all", imap.SearchCriteria{}, []imap.UID{1, 2, 3}},
		{"since", imap.SearchCriteria{Since: time.Date(2021, 6, 1, 0, 0, 0, 0, utc)}, []imap.UID{2, 3}},
		{"before", imap.SearchCriteria{Before: time.Date(2021, 6, 1, 0, 0, 0, 0, utc)}, []imap.UID{1}},
		{"larger", imap.SearchCriteria{Larger: 1000}, []imap.UID{2}},
		{"smaller", imap.SearchCriteria{Smaller: 1000}, []imap.UID{1, 3}},
		{"message-id", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<two@example.org>"}}}, []imap.UID{2}},
		{"has message-id", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "message-id", Value: ""}}}, []imap.UID{1, 2}},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []imap.UID{2, 3}},
		{"keyword", imap.SearchCriteria{Flag: []imap.Flag{"$work"}}, []imap.UID{3}},
		{"body", imap.SearchCriteria{Body: []string{"HELLO"}}, []imap.UID{1, 3}},
		{"uid range", imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 2, Stop: 0}}}}, []imap.UID{2, 3}},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Larger: 1000}, {Flag: []imap.Flag{imap.FlagSeen}}}}}, []imap.UID{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := c.UIDSearch(&tc.criteria, nil).Wait()
			if err != nil {
				t.Fatalf("UIDSearch() = %v", err)
			}
			if got := data.AllUIDs(); !slices.Equal(got, tc.want) {
				t.Errorf("UIDSearch(%s) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

// TestSessionsSeeChanges checks that a session learns of changes made by
// others (through the API here) on its next command, with the right
// sequence numbers.
func TestSessionsSeeChanges(t *testing.T) {
	srv := startServer(t, nil)
	for range 3 {
		srv.AddMessage(testUser, "INBOX", []byte("x"), nil, time.Time{})
	}
	expunged := make(chan uint32, 10)
	c := dial(t, srv, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { expunged <- seq },
	}})
	mustSelect(t, c, "INBOX")

	srv.Expunge(testUser, "INBOX", 2)
	srv.AddMessage(testUser, "INBOX", []byte("new"), nil, time.Time{})
	srv.SetFlags(testUser, "INBOX", 1, []string{`\Flagged`})
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("Noop() = %v", err)
	}
	select {
	case seq := <-expunged:
		if seq != 2 {
			t.Errorf("EXPUNGE %d, want 2", seq)
		}
	default:
		t.Errorf("no EXPUNGE after another session expunged")
	}
	if n := c.Mailbox().NumMessages; n != 3 {
		t.Errorf("Mailbox().NumMessages = %d, want 3", n)
	}
	got := fetch(t, c, imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true})
	var uids []imap.UID
	for _, m := range got {
		uids = append(uids, m.uid)
	}
	if !slices.Equal(uids, []imap.UID{1, 3, 4}) || !hasF(got[0].flags, imap.FlagFlagged) {
		t.Errorf("FETCH 1:* = %v, want UIDs [1 3 4] with 1 \\Flagged", got)
	}
}

func TestIdle(t *testing.T) {
	srv := startServer(t, nil)
	exists := make(chan uint32, 10)
	c := dial(t, srv, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	mustSelect(t, c, "INBOX")
	idle, err := c.Idle()
	if err != nil {
		t.Fatalf("Idle() = %v", err)
	}
	srv.AddMessage(testUser, "INBOX", []byte("x"), nil, time.Time{})
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d while idling, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("no EXISTS while idling")
	}
	if err := idle.Close(); err != nil {
		t.Fatalf("Idle.Close() = %v", err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("Idle.Wait() = %v", err)
	}
}

func TestResetUIDValidity(t *testing.T) {
	srv := startServer(t, nil)
	for range 3 {
		srv.AddMessage(testUser, "INBOX", []byte("x"), nil, time.Time{})
	}
	srv.Expunge(testUser, "INBOX", 1)
	old := srv.UIDValidity(testUser, "INBOX")
	c := dial(t, srv, nil)
	mustSelect(t, c, "INBOX")

	v := srv.ResetUIDValidity(testUser, "INBOX")
	if v == old || v == 0 {
		t.Fatalf("ResetUIDValidity() = %d, want a new value (old %d)", v, old)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("Noop() after reset = %v", err)
	}
	data := mustSelect(t, c, "INBOX")
	if data.UIDValidity != v || data.UIDNext != 3 || data.NumMessages != 2 {
		t.Errorf("Select() after reset = uidvalidity %d uidnext %d exists %d, want %d 3 2", data.UIDValidity, data.UIDNext, data.NumMessages, v)
	}
	var uids []imap.UID
	for _, m := range fetch(t, c, imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}) {
		uids = append(uids, m.uid)
	}
	if !slices.Equal(uids, []imap.UID{1, 2}) {
		t.Errorf("UID FETCH 1:* after reset = %v, want [1 2]", uids)
	}
}
