package backup

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/progress"
)

func scriptMsg(uid uint32, text string) imapsrv.ScriptMessage {
	return imapsrv.ScriptMessage{UID: uid, Flags: []string{`\Seen`}, Body: []byte("Subject: " + text + "\r\n\r\n" + text + "\r\n")}
}

func startScripted(t *testing.T, f *imapsrv.ScriptFolder) *imapsrv.Scripted {
	t.Helper()
	s, err := imapsrv.StartScripted()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetFolder(f)
	return s
}

// warnings collects the warnings and errors of a run.
type warnings struct {
	mu   sync.Mutex
	list []progress.Event
}

func (w *warnings) Report(e progress.Event) {
	if e.Kind == progress.Warning || e.Kind == progress.Failed {
		w.mu.Lock()
		w.list = append(w.list, e)
		w.mu.Unlock()
	}
}

func (w *warnings) find(folder, text string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.list {
		if e.Folder == folder && (strings.Contains(e.Text, text) || (e.Err != nil && strings.Contains(e.Err.Error(), text))) {
			return true
		}
	}
	return false
}

func scriptedBackup(t *testing.T, repo *archive.Repo, addr string, maxSize int64) (*Result, *warnings) {
	t.Helper()
	w := &warnings{}
	dial := func(ctx context.Context) (*imapconn.Conn, error) {
		return imapconn.Dial(ctx, &imapconn.Options{Addr: addr, Security: "none", Username: "u", Timeout: 5 * time.Second,
			MaxMessageSize: maxSize, Secret: func(context.Context) (string, error) { return "p", nil }})
	}
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dial, Backoff: time.Millisecond}, w)
	return res, w
}

// archived is the present places of a folder: UID (or "sha256:" UIDL) ->
// subject, and the folder's checkpoint.
func scriptArchived(t *testing.T, repo *archive.Repo, folder string) (map[string]string, uint32) {
	t.Helper()
	out := map[string]string{}
	for e, err := range repo.Messages(context.Background(), archive.Query{Account: "acct", Folder: folder}) {
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprint(e.UID)
		if e.UIDL != "" {
			key = e.UIDL
		}
		out[key] = e.Header.Subject
	}
	acct, err := repo.LookupAccount(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := repo.Folders(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Name == folder {
			return out, f.LastUID
		}
	}
	t.Fatalf("no folder %s in the archive", folder)
	return nil, 0
}

func placeKeys(m map[string]string) string {
	var k []string
	for key, v := range m {
		k = append(k, key+"="+v)
	}
	sort.Strings(k)
	return strings.Join(k, " ")
}

// TestUIDAnomalies: each anomaly is a warning that names the folder, and
// none moves the checkpoint past mail the server has not given; the mail
// that arrives afterwards is fetched.
func TestUIDAnomalies(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []imapsrv.ScriptMessage
		warn string
		want string // archived after the first run
		last uint32
	}{
		{"UID 4294967295 outside the range", append([]imapsrv.ScriptMessage{scriptMsg(1, "a"), scriptMsg(2, "b")},
			imapsrv.ScriptMessage{UID: 4294967295, Body: []byte("Subject: bogus\r\n\r\nx\r\n"), Always: true}),
			"at or above its UIDNEXT", "1=a 2=b", 2},
		{"a UID not asked for", []imapsrv.ScriptMessage{scriptMsg(1, "a"), scriptMsg(2, "b"),
			{UID: 1, Body: []byte("Subject: again\r\n\r\nx\r\n"), Always: true}},
			"twice in one FETCH", "1=a 2=b", 2},
		{"duplicate UIDs", []imapsrv.ScriptMessage{scriptMsg(1, "a"), scriptMsg(2, "b"), scriptMsg(2, "b2"), scriptMsg(3, "c")},
			"twice in one FETCH", "1=a 2=b 3=c", 3},
		{"UIDs not ascending", []imapsrv.ScriptMessage{scriptMsg(3, "c"), scriptMsg(1, "a"), scriptMsg(2, "b")},
			"out of order", "1=a 2=b 3=c", 3},
		{"FETCH without UID", []imapsrv.ScriptMessage{scriptMsg(1, "a"), {UID: 2, NoUID: true, Body: []byte("Subject: nouid\r\n\r\nx\r\n")}, scriptMsg(3, "c")},
			"without its UID", "1=a 3=c", 3},
		{"RFC822.SIZE not the literal's", []imapsrv.ScriptMessage{scriptMsg(1, "a"), {UID: 2, Size: 9999, Body: []byte("Subject: b\r\n\r\nb\r\n")}},
			"RFC822.SIZE 9999", "1=a 2=b", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &imapsrv.ScriptFolder{Name: "INBOX", UIDValidity: 5, Messages: tc.msgs}
			s := startScripted(t, f)
			repo := openRepo(t, t.TempDir())
			res, w := scriptedBackup(t, repo, s.Addr(), 0)
			if !w.find("INBOX", tc.warn) {
				t.Errorf("no warning %q naming INBOX; got %+v", tc.warn, w.list)
			}
			got, last := scriptArchived(t, repo, "INBOX")
			if placeKeys(got) != tc.want || last != tc.last {
				t.Errorf("archived %s, checkpoint %d; want %s, %d (%v)", placeKeys(got), last, tc.want, tc.last, res.Err())
			}
			// New mail is fetched next time: the checkpoint was not moved
			// past it.
			f2 := *f
			f2.Messages = append(cloneMsgs(tc.msgs), scriptMsg(10, "new"))
			s.SetFolder(&f2)
			scriptedBackup(t, repo, s.Addr(), 0)
			if got, _ := scriptArchived(t, repo, "INBOX"); got["10"] != "new" {
				t.Errorf("after new mail: archived %s; want 10=new among them", placeKeys(got))
			}
		})
	}
}

func cloneMsgs(m []imapsrv.ScriptMessage) []imapsrv.ScriptMessage {
	return append([]imapsrv.ScriptMessage{}, m...)
}

// TestNoUIDValidity: without UIDVALIDITY the folder is read by content:
// every message archived once, new ones too, with a warning.
func TestNoUIDValidity(t *testing.T) {
	f := &imapsrv.ScriptFolder{Name: "INBOX", Messages: []imapsrv.ScriptMessage{scriptMsg(1, "a"), scriptMsg(2, "b")}}
	s := startScripted(t, f)
	repo := openRepo(t, t.TempDir())
	_, w := scriptedBackup(t, repo, s.Addr(), 0)
	if !w.find("INBOX", "no UIDVALIDITY") {
		t.Errorf("no warning about the missing UIDVALIDITY: %+v", w.list)
	}
	// The server renumbers: the same messages under other UIDs, one new.
	s.SetFolder(&imapsrv.ScriptFolder{Name: "INBOX", Messages: []imapsrv.ScriptMessage{scriptMsg(7, "b"), scriptMsg(8, "a"), scriptMsg(9, "c")}})
	res, _ := scriptedBackup(t, repo, s.Addr(), 0)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	got, last := scriptArchived(t, repo, "INBOX")
	if len(got) != 3 || last != 0 {
		t.Fatalf("archived %s, checkpoint %d; want a, b and c once each by content, no checkpoint", placeKeys(got), last)
	}
	for k, v := range got {
		h := sha256.Sum256(scriptMsg(0, v).Body)
		if k != "sha256:"+fmt.Sprintf("%x", h) {
			t.Errorf("place %s for %q: want it keyed by its hash", k, v)
		}
	}
}

// TestUIDNextBackwards: UIDNEXT lower than before under the same
// UIDVALIDITY is a reset: the new messages are fetched (they reuse old
// UIDs), the old ones are marked gone, no flags move between them.
func TestUIDNextBackwards(t *testing.T) {
	var old []imapsrv.ScriptMessage
	for i := uint32(1); i <= 5; i++ {
		old = append(old, scriptMsg(i, fmt.Sprint("old", i)))
	}
	s := startScripted(t, &imapsrv.ScriptFolder{Name: "INBOX", UIDValidity: 9, Messages: old})
	repo := openRepo(t, t.TempDir())
	if res, _ := scriptedBackup(t, repo, s.Addr(), 0); !res.OK() {
		t.Fatal(res.Err())
	}
	s.SetFolder(&imapsrv.ScriptFolder{Name: "INBOX", UIDValidity: 9, Messages: []imapsrv.ScriptMessage{scriptMsg(1, "new1"), scriptMsg(2, "new2")}})
	res, w := scriptedBackup(t, repo, s.Addr(), 0)
	if !res.OK() {
		t.Fatal(res.Err())
	}
	if !w.find("INBOX", "UIDNEXT went back") {
		t.Errorf("no warning about the reset: %+v", w.list)
	}
	got, last := scriptArchived(t, repo, "INBOX")
	if placeKeys(got) != "1=new1 2=new2" || last != 2 {
		t.Errorf("archived %s, checkpoint %d; want 1=new1 2=new2, 2", placeKeys(got), last)
	}
	// The old messages are still archived, as deleted on the server, also
	// the two whose UIDs the new ones took.
	var gone []string
	for e, err := range repo.Messages(context.Background(), archive.Query{Account: "acct", Folder: "INBOX", IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.GoneSince.IsZero() != strings.HasPrefix(e.Header.Subject, "new") {
			t.Errorf("uid %d %q: gone since %v", e.UID, e.Header.Subject, e.GoneSince)
		}
		if !e.GoneSince.IsZero() {
			gone = append(gone, e.Header.Subject)
		}
	}
	sort.Strings(gone)
	if strings.Join(gone, " ") != "old1 old2 old3 old4 old5" {
		t.Errorf("gone places %v; want every old message kept", gone)
	}
}

// TestMessageOverMaxSize: a message over max_message_size is that
// message's error (account, folder, UID); the others are archived, the
// checkpoint stays below it, and memory is not spent on it.
func TestMessageOverMaxSize(t *testing.T) {
	srv := newServer(t, nil)
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef", 8<<10) + "\r\n" // 128 KiB
	for i := 0; i < 6; i++ {
		body := fmt.Sprintf("Subject: small %d\r\n\r\nx\r\n", i)
		if i == 2 {
			body = big
		}
		srv.AddMessage(testUser, "INBOX", []byte(body), nil, time.Date(2022, 1, 1+i, 0, 0, 0, 0, time.UTC))
	}
	repo := openRepo(t, t.TempDir())
	w := &warnings{}
	dial := func(ctx context.Context) (*imapconn.Conn, error) {
		return imapconn.Dial(ctx, &imapconn.Options{Addr: srv.Addr(), Security: "none", Username: testUser, Timeout: 5 * time.Second,
			MaxMessageSize: 64 << 10, Secret: func(context.Context) (string, error) { return testPass, nil }})
	}
	res := IMAP(context.Background(), repo, &IMAPAccount{Name: "acct", Dial: dial, Backoff: time.Millisecond, Retries: 1,
		Include: func(name string, _ rune) bool { return name == "INBOX" }}, w)
	err := res.Err()
	if err == nil || !strings.Contains(err.Error(), "acct/INBOX uid 3") || !strings.Contains(err.Error(), "max_message_size") {
		t.Fatalf("error = %v; want one naming acct/INBOX uid 3 and max_message_size", err)
	}
	if strings.Count(err.Error(), "uid 3") != 1 {
		t.Errorf("error names the message more than once: %v", err)
	}
	if !w.find("INBOX", "max_message_size") {
		t.Errorf("no progress event for the refused message")
	}
	got, _ := scriptArchived(t, repo, "INBOX")
	var subjects []string
	for _, v := range got {
		subjects = append(subjects, v)
	}
	sort.Strings(subjects)
	if len(got) < 5 || got["3"] != "" {
		t.Errorf("archived %s; want every message but uid 3", placeKeys(got))
	}
}
