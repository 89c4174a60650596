package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestInterruptedRunResumes: killed between the fsync of the data file
// and the index commit. The next writer opens without complaint, the
// message is indexed again rather than cut off, and storing it again adds
// nothing: no loss, no duplicate, no refusal.
func TestInterruptedRunResumes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	kept := []byte("Subject: kept\r\n\r\nkept\r\n")
	hk, _, _ := r.PutMessage(ctx, kept)
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	lost := []byte("Subject: in flight\r\n\r\nnever committed\r\n")
	hl, _, _ := r.PutMessage(ctx, lost)
	packPath := r.pack.path
	// kill -9 after the pack's fsync, before the index commit.
	r.pack.f.Sync()
	r.tx.Rollback()
	r.lock.release()
	r.wdb.Close()
	r.rdb.Close()
	before := snapshotFiles(t, dir)

	w := &warnings{}
	r2, err := Open(ctx, dir, &Options{Create: true, Report: w})
	if err != nil {
		t.Fatalf("re-Open() = %v, want the interrupted run resumed", err)
	}
	defer r2.Close()
	sameFiles(t, "after resuming", before, snapshotFiles(t, dir))
	if len(w.list) != 1 || !strings.Contains(w.list[0], "indexed again") {
		t.Fatalf("warnings = %q, want one saying the message was indexed again", w.list)
	}
	for h, raw := range map[Hash][]byte{hk: kept, hl: lost} {
		if got, err := r2.ReadMessage(ctx, h); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("ReadMessage(%.8s) = %q, %v", h, got, err)
		}
	}
	if _, added, err := r2.PutMessage(ctx, lost); err != nil || added {
		t.Fatalf("PutMessage(in flight again) = added %v, %v; want already stored", added, err)
	}
	if err := r2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(packPath)
	if st.Size() != int64(len(before[filepath.Base(packPath)])) {
		t.Fatalf("pack grew to %d bytes: the message was stored twice", st.Size())
	}
	if res, _ := r2.Verify(ctx, "", nil); !res.OK() || res.Checked != 2 {
		t.Fatalf("Verify() = %+v", res)
	}
}

// TestUnfinishedWriteKeptAside: killed in the middle of writing a frame.
// The unfinished bytes are moved into lost+found, not thrown away, and the
// data file continues from the last whole message.
func TestUnfinishedWriteKeptAside(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeFixture(t, dir, 1, 3, false)
	pack := filepath.Join(dir, "data", "00000001.pack")
	committed, _ := os.ReadFile(pack)
	// Half of a message frame after the committed end.
	r, _ := Open(ctx, dir, nil)
	b, _ := r.Locate(ctx, fx.hashes[2])
	r.Close()
	half := committed[b.Offset-skipLen : b.Offset+b.Length/2]
	f, _ := os.OpenFile(pack, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(half)
	f.Close()

	w := &warnings{}
	r2, err := Open(ctx, dir, &Options{Create: true, Report: w})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	r2.Close()
	now, _ := os.ReadFile(pack)
	if !bytes.Equal(now, committed) {
		t.Fatalf("pack is %d bytes, want the committed %d", len(now), len(committed))
	}
	aside, err := os.ReadFile(filepath.Join(dir, "lost+found", "00000001.pack."+itoa(int64(len(committed)))))
	if err != nil || !bytes.Equal(aside, half) {
		t.Fatalf("lost+found copy = %d bytes, %v; want the %d unfinished bytes", len(aside), err, len(half))
	}
	if len(w.list) == 0 || !strings.Contains(strings.Join(w.list, " "), "lost+found") {
		t.Fatalf("warnings = %q, want one naming lost+found", w.list)
	}
	if res := mustVerify(t, dir); !res.OK() {
		t.Fatalf("Verify() = %+v", res)
	}
}

// TestDeletedIndexRefusesThenRepairs: index.db deleted (what a user does
// after "file is not a database"). A writer refuses and touches nothing;
// repair rebuilds the index from the data files and every message is
// readable again.
func TestDeletedIndexRefusesThenRepairs(t *testing.T) {
	for _, each := range []bool{false, true} {
		t.Run(map[bool]string{false: "one-commit", true: "many-commits"}[each], func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			fx := writeFixture(t, dir, 1, 5, each)
			removeIndex(t, dir)
			before := snapshotFiles(t, dir)
			mustRefuse(t, dir, "index.db is missing")
			sameFiles(t, "after the refusal", before, snapshotFiles(t, dir))
			if _, err := os.Stat(filepath.Join(dir, "index.db")); !os.IsNotExist(err) {
				t.Fatalf("the refusing writer created index.db (%v)", err)
			}
			if _, err := Open(ctx, dir, nil); err == nil || !strings.Contains(err.Error(), "repair") {
				t.Fatalf("reader Open() = %v, want an error naming repair", err)
			}

			res, err := Repair(ctx, dir, nil)
			if err != nil {
				t.Fatalf("Repair() = %v", err)
			}
			if res.Indexed != 5 || res.Recovered != 5 || len(res.Missing) != 0 {
				t.Fatalf("Repair() = %+v; want 5 indexed, 5 recovered", res)
			}
			sameFiles(t, "after repair", before, snapshotFiles(t, dir))
			got := readAll(t, dir)
			for uid, raw := range fx.msgs {
				key := RecoveredAccount + "/" + RecoveredFolder + "/repair:" + fx.hashes[uid].String()
				if !bytes.Equal(got[key], raw) {
					t.Fatalf("after repair %s = %q, want message %d", key, got[key], uid)
				}
			}
			if v := mustVerify(t, dir); !v.OK() || v.Checked != 5 {
				t.Fatalf("Verify() after repair = %+v", v)
			}
			// Writers work again, and a message stored again is deduplicated.
			r, err := Open(ctx, dir, &Options{Create: true})
			if err != nil {
				t.Fatalf("writer Open() after repair = %v", err)
			}
			defer r.Close()
			if _, added, err := r.PutMessage(ctx, fx.msgs[3]); err != nil || added {
				t.Fatalf("PutMessage() after repair = added %v, %v; want deduplicated", added, err)
			}
		})
	}
}

// TestOldIndexRefusesThenRepairs: index.db put back from an older copy.
// The data files hold a commit the index never saw: writers refuse, even
// when only one commit is missing, and repair re-indexes it.
func TestOldIndexRefusesThenRepairs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFixture(t, dir, 1, 3, false)
	saved := filepath.Join(t.TempDir(), "index.db")
	copyFile(t, filepath.Join(dir, "index.db"), saved)
	// One more backup: one message, one commit.
	r, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	late := fixtureMsg(4)
	hl, _, _ := r.PutMessage(ctx, late)
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()
	removeIndex(t, dir)
	copyFile(t, saved, filepath.Join(dir, "index.db"))
	before := snapshotFiles(t, dir)
	mustRefuse(t, dir, "older than the data files")
	sameFiles(t, "after the refusal", before, snapshotFiles(t, dir))

	res, err := Repair(ctx, dir, nil)
	if err != nil {
		t.Fatalf("Repair() = %v", err)
	}
	if res.Indexed != 1 || res.Recovered != 1 || res.IndexMovedTo != "" {
		t.Fatalf("Repair() = %+v; want the one late message indexed and recovered, the index kept", res)
	}
	got := readAll(t, dir)
	if len(got) != 4 || !bytes.Equal(got[RecoveredAccount+"/"+RecoveredFolder+"/repair:"+hl.String()], late) {
		t.Fatalf("after repair: %d places, late message %v", len(got), got[RecoveredAccount+"/"+RecoveredFolder+"/repair:"+hl.String()] != nil)
	}
	if r, err := Open(ctx, dir, &Options{Create: true}); err != nil {
		t.Fatalf("writer Open() after repair = %v", err)
	} else {
		r.Close()
	}
}

// TestTruncatedPack: the data file lost its end (a bad copy, a full disk
// elsewhere). Writers refuse instead of failing every backup; repair marks
// the lost messages missing and moves the folder's checkpoint back, so
// the next backup fetches them again.
func TestTruncatedPack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeFixture(t, dir, 1, 4, false)
	r, _ := Open(ctx, dir, nil)
	b, _ := r.Locate(ctx, fx.hashes[3])
	r.Close()
	pack := filepath.Join(dir, "data", "00000001.pack")
	if err := os.Truncate(pack, b.Offset+b.Length/2); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, dir, "truncated")
	if v := mustVerify(t, dir); v.OK() || len(v.Packs) == 0 {
		t.Fatalf("Verify() of a truncated pack = %+v, want the data file named", v)
	}

	res, err := Repair(ctx, dir, nil)
	if err != nil {
		t.Fatalf("Repair() = %v", err)
	}
	want := []string{"work/INBOX uidvalidity 7 uid 3", "work/INBOX uidvalidity 7 uid 4"}
	if strings.Join(res.Missing, ",") != strings.Join(want, ",") || len(res.KeptAside) != 1 {
		t.Fatalf("Repair().Missing = %q, KeptAside %q; want %q and the cut frame kept", res.Missing, res.KeptAside, want)
	}
	v := mustVerify(t, dir)
	if v.OK() || strings.Join(v.Missing, ",") != strings.Join(want, ",") || len(v.Damaged)+len(v.Packs)+len(v.Index) != 0 {
		t.Fatalf("Verify() after repair = %+v; want only the two missing places", v)
	}
	// The backup's view: uid 3 and 4 are not archived any more.
	w, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatalf("writer Open() after repair = %v", err)
	}
	defer w.Close()
	acct, _ := w.LookupAccount(ctx, "work")
	fs, _ := w.Folders(ctx, acct)
	if len(fs) != 1 || fs[0].LastUID != 2 {
		t.Fatalf("INBOX checkpoint after repair = %+v, want last_uid 2", fs)
	}
	for _, uid := range []uint32{3, 4} {
		if ok, _ := w.HasBlob(ctx, fx.hashes[uid]); ok {
			t.Fatalf("message %d still counts as archived", uid)
		}
		if _, added, err := w.PutMessage(ctx, fx.msgs[uid]); err != nil || !added {
			t.Fatalf("PutMessage(%d) = %v, %v; want stored again", uid, added, err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := w.Verify(ctx, "", nil); !v.OK() || v.Checked != 4 {
		t.Fatalf("Verify() after the messages came back = %+v", v)
	}
}

// TestDamagedMessageHealed: flipped bytes in a stored message. verify
// finds it; MarkMissing (what verify does when it can write) stops it
// counting as archived, so the next backup stores it again.
func TestDamagedMessageHealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeFixture(t, dir, 1, 4, false)
	w, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b, _ := w.Locate(ctx, fx.hashes[2])
	pf, _ := os.OpenFile(w.PackPath(b.Pack), os.O_RDWR, 0)
	pf.WriteAt(bytes.Repeat([]byte{0x5a}, 8), b.Offset+b.Length/2)
	pf.Close()

	v, err := w.Verify(ctx, "", nil)
	if err != nil || len(v.Damaged) != 1 {
		t.Fatalf("Verify() = %+v, %v; want message 2 damaged", v, err)
	}
	if ok, _ := w.HasBlob(ctx, fx.hashes[2]); !ok {
		t.Fatal("fixture: message 2 not stored")
	}
	places, err := w.MarkMissing(ctx, []Hash{v.Damaged[0].Hash})
	if err != nil || len(places) != 1 || places[0] != "work/INBOX uidvalidity 7 uid 2" {
		t.Fatalf("MarkMissing() = %q, %v", places, err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := w.HasBlob(ctx, fx.hashes[2]); ok {
		t.Fatal("a damaged message still counts as archived")
	}
	acct, _ := w.LookupAccount(ctx, "work")
	fs, _ := w.Folders(ctx, acct)
	if fs[0].LastUID != 1 {
		t.Fatalf("checkpoint = %d, want 1 (the next backup fetches from uid 2)", fs[0].LastUID)
	}
	if _, added, err := w.PutMessage(ctx, fx.msgs[2]); err != nil || !added {
		t.Fatalf("PutMessage(healed) = %v, %v", added, err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := w.Verify(ctx, "", nil); !v.OK() {
		t.Fatalf("Verify() after healing = %+v", v)
	}
	if got, err := w.ReadMessage(ctx, fx.hashes[2]); err != nil || !bytes.Equal(got, fx.msgs[2]) {
		t.Fatalf("ReadMessage(healed) = %v", err)
	}
}

// TestCorruptIndexPage: garbage over pages of index.db. verify reports the
// index instead of "all intact"; repair moves the damaged index aside,
// rebuilds from the data files and what can still be read of it.
func TestCorruptIndexPage(t *testing.T) {
	for _, which := range []string{"index", "table"} {
		t.Run(which, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			fx := writeFixture(t, dir, 1, 300, false)
			// Find a page of the messages_blob index (or of the messages
			// table) and overwrite it.
			r, _ := Open(ctx, dir, nil)
			name := map[string]string{"index": "messages_blob", "table": "messages"}[which]
			var root int64
			if err := r.rdb.QueryRowContext(ctx, `SELECT rootpage FROM sqlite_master WHERE name=?`, name).Scan(&root); err != nil {
				t.Fatal(err)
			}
			r.Close()
			idx := filepath.Join(dir, "index.db")
			f, _ := os.OpenFile(idx, os.O_RDWR, 0)
			f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), (root-1)*4096)
			f.Close()

			v := mustVerify(t, dir)
			if v.OK() || len(v.Index) == 0 {
				t.Fatalf("Verify() of a corrupted index = %+v, want the index named", v)
			}
			res, err := Repair(ctx, dir, nil)
			if err != nil {
				t.Fatalf("Repair() = %v", err)
			}
			if res.IndexMovedTo == "" {
				t.Fatalf("Repair() = %+v, want the damaged index moved aside", res)
			}
			if _, err := os.Stat(res.IndexMovedTo); err != nil {
				t.Fatalf("the damaged index is not kept: %v", err)
			}
			if v := mustVerify(t, dir); len(v.Index)+len(v.Damaged)+len(v.Packs) != 0 || v.Checked != 300 {
				t.Fatalf("Verify() after repair = %+v", v)
			}
			// Every message is still there: in INBOX where its row could be
			// read, in lost+found otherwise.
			got := readAll(t, dir)
			inbox := 0
			for uid, raw := range fx.msgs {
				k1 := "work/INBOX/" + itoa(int64(uid))
				k2 := RecoveredAccount + "/" + RecoveredFolder + "/repair:" + fx.hashes[uid].String()
				switch {
				case bytes.Equal(got[k1], raw):
					inbox++
				case bytes.Equal(got[k2], raw):
				default:
					t.Fatalf("message %d lost by repair", uid)
				}
			}
			if which == "index" && inbox != 300 {
				t.Fatalf("%d of 300 places salvaged from an index whose table pages are intact", inbox)
			}
			if w, err := Open(ctx, dir, &Options{Create: true}); err != nil {
				t.Fatalf("writer Open() after repair = %v", err)
			} else {
				w.Close()
			}
		})
	}
}

// TestGarbageIndexFile: index.db is not a database at all.
func TestGarbageIndexFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeFixture(t, dir, 1, 3, false)
	removeIndex(t, dir)
	os.WriteFile(filepath.Join(dir, "index.db"), bytes.Repeat([]byte("not sqlite "), 500), 0o600)
	if _, err := Open(ctx, dir, &Options{Create: true}); err == nil {
		t.Fatal("writer Open() of a garbage index = nil")
	}
	res, err := Repair(ctx, dir, nil)
	if err != nil || res.IndexMovedTo == "" || res.Recovered != 3 {
		t.Fatalf("Repair() = %+v, %v", res, err)
	}
	if got := readAll(t, dir); len(got) != 3 || !bytes.Equal(got[RecoveredAccount+"/"+RecoveredFolder+"/repair:"+fx.hashes[2].String()], fx.msgs[2]) {
		t.Fatalf("after repair: %d messages", len(got))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestMissingPOP3PlaceIsNotArchived: a POP3 place whose stored copy was
// dropped as damaged is not among the places a POP3 backup trusts (or
// deletes from the server on the strength of), so it is fetched again.
func TestMissingPOP3PlaceIsNotArchived(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	acct, _ := r.Account(ctx, "isp", "pop3")
	f, _ := r.Folder(ctx, acct, "INBOX")
	var hs []Hash
	for i, uidl := range []string{"u1", "u2", "u3"} {
		raw := fixtureMsg(uint32(i + 1))
		h, _, _ := r.PutMessage(ctx, raw)
		r.AddMessage(ctx, &Message{Folder: f.ID, UIDL: uidl, Hash: h, Size: int64(len(raw))})
		hs = append(hs, h)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ps, _ := r.POP3Places(ctx, f.ID, true); len(ps) != 3 {
		t.Fatalf("POP3Places() = %d places, want 3", len(ps))
	}
	if _, err := r.MarkMissing(ctx, []Hash{hs[1]}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := r.POP3Places(ctx, f.ID, true)
	if err != nil || len(ps) != 2 || ps[0].Key == "u2" || ps[1].Key == "u2" {
		t.Fatalf("POP3Places() after u2 was marked missing = %+v, %v", ps, err)
	}
	if v, _ := r.Verify(ctx, "", nil); len(v.Missing) != 1 || v.Missing[0] != "isp/INBOX uidl u2" {
		t.Fatalf("Verify().Missing = %q", v.Missing)
	}
}
