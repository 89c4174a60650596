package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/dovecot"
	"github.com/mailkeep/mailkeep/internal/imapconn"
	"github.com/mailkeep/mailkeep/internal/imapsrv"
	"github.com/mailkeep/mailkeep/internal/progress"
)

// clMsg is one seeded message and what a test expects of it.
type clMsg struct {
	folder  string
	raw     []byte // as seeded
	served  []byte // as the server sends it (Dovecot turns LF into CRLF)
	flags   []string
	date    time.Time // INTERNALDATE
	hdrDate time.Time // the Date: header; zero: unreadable header
}

func (m *clMsg) hash() archive.Hash { return sha256.Sum256(m.served) }

// clBackend is one IMAP server the cleanup scenarios run against.
type clBackend struct {
	name       string
	addr       string
	user, pass string
	add        func(t *testing.T, folder string, msgs []*clMsg) // seeds; sets served
	bumpUIDV   func(t *testing.T, folder string)
	mem        *imapsrv.Server // in-process only
}

func newMemBackend(t *testing.T, opts *imapsrv.Options) *clBackend {
	t.Helper()
	srv := imapsrv.New(opts)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	const user, pass = "carla", "pw"
	srv.AddUser(user, pass)
	if err := srv.AddMailbox(user, "Trash", imap.MailboxAttrTrash); err != nil {
		t.Fatal(err)
	}
	return &clBackend{name: "imapsrv", addr: srv.Addr(), user: user, pass: pass, mem: srv,
		add: func(t *testing.T, folder string, msgs []*clMsg) {
			for _, m := range msgs {
				m.served = m.raw
				srv.AddMessage(user, folder, m.raw, m.flags, m.date)
			}
		},
		bumpUIDV: func(t *testing.T, folder string) { srv.ResetUIDValidity(user, folder) },
	}
}

func newDovecotBackend(t *testing.T, srv *dovecot.Server) *clBackend {
	t.Helper()
	user, pass := srv.NewUser(t)
	return &clBackend{name: "dovecot", addr: srv.IMAPAddr, user: user, pass: pass,
		add: func(t *testing.T, folder string, msgs []*clMsg) {
			dm := make([]dovecot.Message, len(msgs))
			for i, m := range msgs {
				m.served = dovecot.ServedIMAP(m.raw)
				dm[i] = dovecot.Message{Raw: m.raw, Flags: m.flags, Date: m.date}
			}
			srv.Seed(t, user, folder, dm)
		},
		bumpUIDV: func(t *testing.T, folder string) {
			uv := uint32(time.Now().Unix()) + 1000
			if out, err := srv.Doveadm("mailbox", "update", "-u", user, "--uid-validity", fmt.Sprint(uv), folder); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		},
	}
}

func (b *clBackend) dial(addr string) func(context.Context) (*imapconn.Conn, error) {
	if addr == "" {
		addr = b.addr
	}
	return func(ctx context.Context) (*imapconn.Conn, error) {
		return imapconn.Dial(ctx, &imapconn.Options{Addr: addr, Security: "none", Username: b.user, Timeout: 20 * time.Second,
			Secret: func(context.Context) (string, error) { return b.pass, nil }})
	}
}

// account is a cleanup of everything before cutoff on b.
func (b *clBackend) account(cutoff time.Time) *CleanupAccount {
	return &CleanupAccount{Name: "acct", Dial: b.dial(""), Before: cutoff, Backoff: 10 * time.Millisecond}
}

// clServerMsg is what the server holds: hash -> flags (\Recent dropped).
type clServerMsg struct {
	uid   uint32
	flags string
}

// state reads a folder back over IMAP: every message's hash and flags.
func (b *clBackend) state(t *testing.T, folder string) map[archive.Hash]clServerMsg {
	t.Helper()
	c, err := b.dial("")(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("examine %s: %v", folder, err)
	}
	out := map[archive.Hash]clServerMsg{}
	if sel.NumMessages == 0 {
		return out
	}
	fc := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	for {
		msg := fc.Next()
		if msg == nil {
			break
		}
		var sm clServerMsg
		var h archive.Hash
		for {
			it := msg.Next()
			if it == nil {
				break
			}
			switch d := it.(type) {
			case imapclient.FetchItemDataUID:
				sm.uid = uint32(d.UID)
			case imapclient.FetchItemDataFlags:
				sm.flags = archive.JoinFlags(imapconn.FlagStrings(d.Flags))
			case imapclient.FetchItemDataBodySection:
				raw, err := io.ReadAll(d.Literal)
				if err != nil {
					t.Fatal(err)
				}
				h = sha256.Sum256(raw)
			}
		}
		out[h] = sm
	}
	if err := fc.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// clDay is 12:00 UTC, n days before today: far from any day boundary in
// the zones a test machine uses.
func clDay(n int) time.Time {
	y, m, d := time.Now().UTC().Date()
	return time.Date(y, m, d-n, 12, 0, 0, 0, time.UTC)
}

// clCutoff is local midnight n days ago.
func clCutoff(n int) time.Time {
	y, m, d := time.Now().Date()
	return time.Date(y, m, d-n, 0, 0, 0, 0, time.Local)
}

// clCorpus makes n messages for folder dated over the last six years
// (every 54 days or so), with a spread of flags and a few large ones.
func clCorpus(folder string, n int) []*clMsg {
	var out []*clMsg
	flagSets := [][]string{nil, {`\Seen`}, {`\Seen`, "$Label1"}, {`\Flagged`, `\Answered`}}
	for i := 0; i < n; i++ {
		days := 3 + i*(6*365)/n
		date := clDay(days)
		size := 300 + (i*131)%900
		if i%7 == 3 {
			size = 40 << 10
		}
		out = append(out, clNew(folder, i, date, date, size, flagSets[i%len(flagSets)]))
	}
	return out
}

func clNew(folder string, i int, date, hdr time.Time, size int, flags []string) *clMsg {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender %d <s%d@example.org>\r\nTo: carla@example.com\r\n", i, i)
	fmt.Fprintf(&b, "Subject: %s message %d\r\nMessage-ID: <%d.%s@example.org>\r\n", folder, i, i, strings.ReplaceAll(folder, "/", "."))
	if !hdr.IsZero() {
		fmt.Fprintf(&b, "Date: %s\r\n", hdr.Format(time.RFC1123Z))
	} else {
		b.WriteString("Date: sometime last spring\r\n")
	}
	b.WriteString("\r\n")
	for b.Len() < size {
		fmt.Fprintf(&b, "line %d of message %d in %s\r\n", b.Len(), i, folder)
	}
	return &clMsg{folder: folder, raw: b.Bytes(), flags: flags, date: date, hdrDate: hdr}
}

func clRepo(t *testing.T) (*archive.Repo, string) {
	t.Helper()
	dir := t.TempDir()
	return clOpen(t, dir), dir
}

func clOpen(t *testing.T, dir string) *archive.Repo {
	t.Helper()
	r, err := archive.Open(context.Background(), dir, &archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// clRec records progress events.
type clRec struct {
	mu     sync.Mutex
	events []progress.Event
}

func (r *clRec) Report(e progress.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *clRec) has(kind progress.Kind, text string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == kind && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

func clRun(t *testing.T, repo *archive.Repo, a *CleanupAccount) *CleanupResult {
	t.Helper()
	return clRunCtx(t, context.Background(), repo, a, nil)
}

func clRunCtx(t *testing.T, ctx context.Context, repo *archive.Repo, a *CleanupAccount, rep progress.Reporter) *CleanupResult {
	t.Helper()
	res := Cleanup(ctx, repo, a, rep)
	if res.Backup != nil && res.Backup.Fatal != nil {
		t.Fatalf("backup: %v", res.Backup.Fatal)
	}
	return res
}

func clFolder(t *testing.T, res *CleanupResult, name string) *CleanupFolder {
	t.Helper()
	for i := range res.Folders {
		if res.Folders[i].Name == name {
			return &res.Folders[i]
		}
	}
	t.Fatalf("no folder %s in the result (%d folders; fatal %v)", name, len(res.Folders), res.Fatal)
	return nil
}

// clExpect checks the server holds exactly the messages keep selects,
// with their flags unchanged, and the archive still holds every message
// (read back and hashed).
func clExpect(t *testing.T, b *clBackend, repo *archive.Repo, msgs []*clMsg, keep func(*clMsg) bool) {
	t.Helper()
	clExpectServer(t, b, msgs, keep)
	clExpectArchive(t, repo, msgs)
}

// clExpectServer checks the server holds exactly the messages keep
// selects, by hash, with their flags as seeded.
func clExpectServer(t *testing.T, b *clBackend, msgs []*clMsg, keep func(*clMsg) bool) {
	t.Helper()
	byFolder := map[string][]*clMsg{}
	for _, m := range msgs {
		byFolder[m.folder] = append(byFolder[m.folder], m)
	}
	for folder, ms := range byFolder {
		got := b.state(t, folder)
		want := map[archive.Hash]*clMsg{}
		for _, m := range ms {
			if keep(m) {
				want[m.hash()] = m
			}
		}
		for h, m := range want {
			sm, ok := got[h]
			if !ok {
				t.Errorf("%s: %s (dated %s) was deleted, want it kept", folder, clSubject(m), m.date.Format("2006-01-02"))
				continue
			}
			if wf := archive.JoinFlags(m.flags); sm.flags != wf {
				t.Errorf("%s: %s flags = %q, want %q (unchanged)", folder, clSubject(m), sm.flags, wf)
			}
		}
		for h := range got {
			if want[h] == nil {
				t.Errorf("%s: message %s is still on the server, want it deleted", folder, h)
			}
		}
	}
}

// clExpectArchive reads every message back from the archive and checks
// its bytes.
func clExpectArchive(t *testing.T, repo *archive.Repo, msgs []*clMsg) {
	t.Helper()
	ctx := context.Background()
	for _, m := range msgs {
		raw, err := repo.ReadMessage(ctx, m.hash())
		if err != nil {
			t.Errorf("archive: %s: %v", clSubject(m), err)
			continue
		}
		if sha256.Sum256(raw) != m.hash() || !bytes.Equal(raw, m.served) {
			t.Errorf("archive: %s reads back different bytes", clSubject(m))
		}
	}
}

func clSubject(m *clMsg) string {
	i := bytes.Index(m.raw, []byte("Subject: "))
	j := bytes.Index(m.raw[i:], []byte("\r\n"))
	return string(m.raw[i+9 : i+j])
}

// clGone returns place -> gone reason for a folder's archived messages.
func clGone(t *testing.T, repo *archive.Repo, folder string) map[archive.Hash]string {
	t.Helper()
	out := map[archive.Hash]string{}
	for e, err := range repo.Messages(context.Background(), archive.Query{Account: "acct", Folder: folder, IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		out[e.Hash] = e.GoneReason
	}
	return out
}

// clFlip damages the stored copy of h: one byte in the middle of its
// compressed frame in the data file.
func clFlip(t *testing.T, repo *archive.Repo, h archive.Hash) string {
	t.Helper()
	loc, err := repo.Locate(context.Background(), h)
	pack, off, length := loc.Pack, loc.Offset, loc.Length
	if err != nil {
		t.Fatal(err)
	}
	path := repo.PackPath(pack)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	at := off + length/2
	if _, err := f.ReadAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x55
	if _, err := f.WriteAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	return path
}

// clGmailProxy forwards to target and adds X-GM-EXT-1 to every
// CAPABILITY list, so that an in-process server passes for Gmail.
func clGmailProxy(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			cl, err := ln.Accept()
			if err != nil {
				return
			}
			sv, err := net.Dial("tcp", target)
			if err != nil {
				cl.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, cl, sv)
			mu.Unlock()
			go func() { io.Copy(sv, cl); sv.Close() }()
			go func() {
				defer cl.Close()
				r := bufio.NewReader(sv)
				for {
					line, err := r.ReadBytes('\n')
					line = bytes.Replace(line, []byte("CAPABILITY IMAP4rev1"), []byte("CAPABILITY IMAP4rev1 X-GM-EXT-1"), 1)
					if _, werr := cl.Write(line); werr != nil || err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
