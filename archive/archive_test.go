package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newRepo(t testing.TB) (*Repo, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := Open(context.Background(), dir, &Options{Create: true, Purpose: "test"})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

var awkward = map[string][]byte{
	"empty":        {},
	"no-headers":   []byte("just a body line\r\n"),
	"bare-lf":      []byte("Subject: lf\n\nline one\nline two\n"),
	"nul-and-8bit": []byte("Subject: caf\xc3\xa9 \xff\r\n\r\nnul \x00 here\r\n"),
	"from-line":    []byte("From someone@example.com Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nFrom me\r\n"),
	"long-line":    append(append([]byte("Subject: long\r\n\r\n"), bytes.Repeat([]byte("a"), 5000)...), "\r\n.\r\n"...),
	"dot-lines":    []byte("Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\n"),
}

func TestPutReadRoundTrip(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	for name, raw := range awkward {
		t.Run(name, func(t *testing.T) {
			h, added, err := r.PutMessage(ctx, raw)
			if err != nil || !added {
				t.Fatalf("PutMessage() = %v, %v; want added", added, err)
			}
			if err := r.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := r.ReadMessage(ctx, h)
			if err != nil {
				t.Fatalf("ReadMessage() error %v", err)
			}
			if !bytes.Equal(got, raw) {
				t.Fatalf("ReadMessage() = %q, want %q", got, raw)
			}
			if HashBytes(got) != h {
				t.Fatalf("hash of read-back differs")
			}
		})
	}
}

func TestDedup(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	raw := []byte("Subject: same\r\n\r\nbody\r\n")
	h1, added1, err := r.PutMessage(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	h2, added2, err := r.PutMessage(ctx, raw) // same transaction
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, added3, _ := r.PutMessage(ctx, raw) // after commit
	if h1 != h2 || !added1 || added2 || added3 {
		t.Fatalf("PutMessage() added = %v,%v,%v; want true,false,false", added1, added2, added3)
	}
	tot, _ := r.Totals(ctx)
	if tot.Blobs != 1 {
		t.Fatalf("Totals().Blobs = %d, want 1", tot.Blobs)
	}
}

func TestLockNamesHolder(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	_ = r
	_, err := Open(ctx, dir, &Options{Purpose: "second"})
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open() = %v, want LockedError", err)
	}
	if !strings.Contains(err.Error(), "pid ") || !strings.Contains(err.Error(), "test") {
		t.Fatalf("lock error %q does not name the holder", err)
	}
	// Readers are not blocked.
	ro, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatalf("read-only Open() = %v", err)
	}
	ro.Close()
}

func TestVerifyNamesDamage(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	acct, _ := r.Account(ctx, "work", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	var hashes []Hash
	for i := 0; i < 5; i++ {
		raw := []byte(strings.Repeat("Subject: message number "+string(rune('a'+i))+"\r\n", 20) + "\r\nbody\r\n")
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
		if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 7, UID: uint32(i + 1), Hash: h, Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := r.blob(ctx, hashes[2])
	pf, err := os.OpenFile(r.PackPath(b.Pack), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	one := []byte{0}
	pf.ReadAt(one, b.Offset+b.Length/2)
	one[0] ^= 0xff
	pf.WriteAt(one, b.Offset+b.Length/2)
	pf.Close()

	res, err := r.Verify(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Damaged) != 1 || res.Damaged[0].Hash != hashes[2] {
		t.Fatalf("Verify().Damaged = %+v, want exactly message 3", res.Damaged)
	}
	d := res.Damaged[0]
	if d.Offset != b.Offset || len(d.Places) != 1 || d.Places[0] != "work/INBOX uidvalidity 7 uid 3" {
		t.Fatalf("damage = offset %d places %v; want offset %d, work/INBOX uid 3", d.Offset, d.Places, b.Offset)
	}
	if err := r.VerifyMessage(ctx, hashes[2]); err == nil {
		t.Fatalf("VerifyMessage(damaged) = nil")
	}
	if err := r.VerifyMessage(ctx, hashes[1]); err != nil {
		t.Fatalf("VerifyMessage(intact) = %v", err)
	}
}

func TestBigMessageStreams(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	raw := make([]byte, 20<<20)
	rand.Read(raw[:1<<20])
	for i := 1 << 20; i < len(raw); i++ {
		raw[i] = "abcdefgh\r\n"[i%10]
	}
	h, n, added, err := r.PutMessageReader(ctx, bytes.NewReader(raw), int64(len(raw)))
	if err != nil || !added || n != int64(len(raw)) || h != HashBytes(raw) {
		t.Fatalf("PutMessageReader() = %v, %d, %v, %v", h, n, added, err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rc, size, err := r.OpenMessage(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	if size != int64(len(raw)) || !bytes.Equal(buf.Bytes(), raw) {
		t.Fatalf("OpenMessage() returned %d bytes (size %d), want the %d stored", buf.Len(), size, len(raw))
	}
	if res, _ := r.Verify(ctx, "", nil); !res.OK() {
		t.Fatalf("Verify() = %+v", res)
	}
}

func TestPackRollsOver(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, err := Open(ctx, dir, &Options{Create: true, PackSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var hs []Hash
	for i := 0; i < 50; i++ {
		raw := make([]byte, 1000)
		rand.Read(raw)
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "data", "*.pack"))
	if len(packs) < 5 {
		t.Fatalf("packs = %d, want several", len(packs))
	}
	res, err := r.Verify(ctx, "", nil)
	if err != nil || !res.OK() || res.Checked != 50 {
		t.Fatalf("Verify() = %+v, %v", res, err)
	}
}

func TestFormatVersionChecked(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	if _, err := r.wdb.Exec(`UPDATE meta SET value='99' WHERE key='format_version'`); err != nil {
		t.Fatal(err)
	}
	r.Close()
	_, err := Open(ctx, dir, nil)
	if err == nil || !strings.Contains(err.Error(), "format version 99") {
		t.Fatalf("Open() of a v99 archive = %v, want a version error", err)
	}
	if _, err := Open(ctx, t.TempDir(), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open() of an empty dir = %v, want not exist", err)
	}
}

func TestGoneAndAsOf(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	acct, _ := r.Account(ctx, "a", "imap")
	f, _ := r.Folder(ctx, acct, "INBOX")
	for i := 1; i <= 3; i++ {
		raw := []byte("Subject: m" + string(rune('0'+i)) + "\r\n\r\nx\r\n")
		h, _, _ := r.PutMessage(ctx, raw)
		r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i), Hash: h, Size: int64(len(raw)),
			Flags: []string{`\Seen`, `\Recent`, "$Label1"}, InternalDate: time.Date(2020, 1, i, 10, 0, 0, 0, time.FixedZone("", 2*3600))})
	}
	r.Commit(ctx)
	before := time.Now()
	if err := r.MarkGone(ctx, f.ID, 1, []uint32{2}, nil, GoneExpunged, before.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r.Commit(ctx)
	count := func(q Query) (n int, first *Entry) {
		for e, err := range r.Messages(ctx, q) {
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = e
			}
			n++
		}
		return
	}
	if n, e := count(Query{Account: "a"}); n != 2 || e.Header.Subject != "m1" || JoinFlags(e.Flags) != `$Label1 \Seen` ||
		e.InternalDate.Format(DateLayout) != "2020-01-01T10:00:00+02:00" {
		t.Fatalf("Messages() = %d, first %+v", n, e)
	}
	if n, _ := count(Query{Account: "a", IncludeGone: true}); n != 3 {
		t.Fatalf("Messages(IncludeGone) = %d, want 3", n)
	}
	if n, _ := count(Query{Account: "a", AsOf: before}); n != 3 {
		t.Fatalf("Messages(AsOf before the expunge) = %d, want 3", n)
	}
	uids, _ := r.PresentUIDs(ctx, f.ID, 1)
	if len(uids) != 2 || uids[0] != 1 || uids[1] != 3 {
		t.Fatalf("PresentUIDs() = %v, want [1 3]", uids)
	}
}

func TestOddDirectoryNames(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"with#hash", "with?query", "with space", "with%25percent", "caf\u00e9"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			r, err := Open(ctx, dir, &Options{Create: true})
			if err != nil {
				t.Fatalf("Open(%q) = %v", dir, err)
			}
			defer r.Close()
			if _, _, err := r.PutMessage(ctx, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := r.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "index.db")); err != nil {
				t.Fatalf("index not inside the archive directory: %v", err)
			}
		})
	}
}

func TestCompressionLevels(t *testing.T) {
	ctx := context.Background()
	raw := []byte(strings.Repeat("Subject: level test\r\nX-Filler: abcdefghijklmnopqrstuvwxyz\r\n", 200) + "\r\nbody\r\n")
	sizes := map[string]int64{}
	for _, level := range []string{"fast", "default", "better"} {
		dir := t.TempDir()
		r, err := Open(ctx, dir, &Options{Create: true, Compression: level})
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		r.Commit(ctx)
		r.Close()
		// Any reader reads any level.
		ro, err := Open(ctx, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ro.ReadMessage(ctx, h)
		tot, _ := ro.Totals(ctx)
		ro.Close()
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("level %s: ReadMessage() = %d bytes, %v", level, len(got), err)
		}
		sizes[level] = tot.Stored
	}
	if sizes["better"] > sizes["fast"] {
		t.Errorf("stored sizes %v: better should not be larger than fast", sizes)
	}
}
