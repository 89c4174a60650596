package archive

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// statsByCounting is Stats as it was before folder_stats: every figure
// counted from messages and blobs, folder by folder.
func statsByCounting(t *testing.T, r *Repo) map[string][5]int64 {
	t.Helper()
	rows, err := r.rdb.Query(`SELECT a.name||'/'||f.name,
		(SELECT count(*) FROM messages m WHERE m.folder=f.id AND ` + KeptSQL("m") + `),
		(SELECT count(*) FROM messages m WHERE m.folder=f.id AND m.gone_since<>0 AND ` + KeptSQL("m") + `),
		(SELECT count(*) FROM messages m WHERE m.folder=f.id AND NOT ` + KeptSQL("m") + `),
		(SELECT coalesce(sum(m.size),0) FROM messages m WHERE m.folder=f.id AND ` + KeptSQL("m") + `),
		(SELECT coalesce(sum(b.length),0) FROM blobs b WHERE b.id IN (SELECT blob FROM messages m WHERE m.folder=f.id))
		FROM folders f JOIN accounts a ON a.id=f.account`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][5]int64{}
	for rows.Next() {
		var name string
		var v [5]int64
		if err := rows.Scan(&name, &v[0], &v[1], &v[2], &v[3], &v[4]); err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	return out
}

func statsFigures(t *testing.T, r *Repo) map[string][5]int64 {
	t.Helper()
	stats, err := r.Stats(context.Background(), "")
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	out := map[string][5]int64{}
	for _, s := range stats {
		out[s.AccountName+"/"+s.Name] = [5]int64{s.Messages, s.OffServer, s.Gone, s.Size, s.Stored}
	}
	return out
}

func statsReady(t *testing.T, r *Repo) bool {
	t.Helper()
	tx, err := r.rdb.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, ok, err := statsMark(context.Background(), tx)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestStatsKeptByCommit: the figures folder_stats keeps (folded in by
// Commit, adjusted by the trigger, filled again after damage) are the
// ones counted from the places, through gone, off-server, duplicate
// (twice in a folder, in two folders, in two accounts), missing and
// healed messages, places past the mark, a place deleted behind the
// triggers' back, and an archive made without it.
func TestStatsKeptByCommit(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	now := time.Unix(1_700_000_000, 0)
	work, _ := r.Account(ctx, "work", "imap")
	isp, _ := r.Account(ctx, "isp", "pop3")
	inbox, _ := r.Folder(ctx, work, "INBOX")
	arch, _ := r.Folder(ctx, work, "Archive")
	empty, _ := r.Folder(ctx, work, "Empty")
	pop, _ := r.Folder(ctx, isp, "INBOX")
	_ = empty
	msg := func(i int) []byte {
		return []byte(fmt.Sprintf("Subject: message %d\r\n\r\n%0*d\r\n", i, 100+i*7, i))
	}
	var hashes []Hash
	put := func(i int) Hash {
		h, _, err := r.PutMessage(ctx, msg(i))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	add := func(f *Folder, uid uint32, uidl string, i int) {
		t.Helper()
		h := put(i)
		if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uid, UIDL: uidl, Hash: h, Size: int64(len(msg(i)))}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string, wantReady bool) {
		t.Helper()
		if err := r.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if got := statsReady(t, r); got != wantReady {
			t.Errorf("%s: folder_stats usable = %v, want %v", step, got, wantReady)
		}
		want, got := statsByCounting(t, r), statsFigures(t, r)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Stats() = %v\nwant (counted) %v", step, got, want)
		}
	}
	for i := 0; i < 10; i++ {
		hashes = append(hashes, put(i))
		add(inbox, uint32(i+1), "", i)
	}
	add(inbox, 11, "", 3) // the same message twice in a folder
	add(arch, 1, "", 3)   // and in another folder
	add(arch, 2, "", 20)  // its own
	add(pop, 0, "u1", 3)  // and in another account
	add(pop, 0, "u2", 21) // POP3 places
	add(pop, 0, "u3", 22) //
	check("first backup", true)

	if err := r.MarkGone(ctx, inbox.ID, 1, []uint32{1, 2, 11}, nil, GoneExpunged, now); err != nil {
		t.Fatal(err)
	}
	if err := r.MarkGone(ctx, inbox.ID, 1, []uint32{4}, nil, GoneCleanup, now); err != nil {
		t.Fatal(err)
	}
	if err := r.MarkGone(ctx, pop.ID, 0, nil, []string{"u2"}, GonePOP3Deleted, now); err != nil {
		t.Fatal(err)
	}
	check("gone, cleaned up, POP3-deleted", true)

	add(inbox, 2, "", 1) // back on the server
	add(inbox, 12, "", 23)
	if err := r.MarkGone(ctx, inbox.ID, 1, []uint32{12}, nil, GoneExpunged, now); err != nil {
		t.Fatal(err) // added and gone in one transaction
	}
	check("back, new and gone at once", true)

	if err := r.MarkFolderGone(ctx, arch, GoneFolder, 0, now); err != nil {
		t.Fatal(err)
	}
	check("folder gone", true)

	// A damaged copy dropped (its blob keeps its row, pack and length 0).
	if _, err := r.MarkMissing(ctx, []Hash{hashes[3]}); err != nil {
		t.Fatal(err)
	}
	check("message missing", true)

	put(3) // stored again by a backup: its places count it again
	check("missing message healed", true)

	// Places added past the mark by a writer that does not fold them.
	testNoFold = true
	add(inbox, 13, "", 24)
	add(inbox, 14, "", 24)
	add(arch, 3, "", 24)
	add(pop, 0, "u4", 25)
	check("places past the mark", true)
	testNoFold = false
	check("places folded in", true)

	// Changes no trigger adjusts for (a place deleted, a message's blob
	// row gone): readers count until the next writer fills it again.
	r.Close()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, "index.db"), dbWriter))
	if err != nil {
		t.Fatal(err)
	}
	var gone int64
	if err := db.QueryRow(`SELECT max(id) FROM messages WHERE uid=5`).Scan(&gone); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM messages WHERE id=?`, gone); err != nil {
		t.Fatal(err)
	}
	db.Close()
	reader := func(step string) {
		t.Helper()
		ro, err := Open(ctx, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if statsReady(t, ro) {
			t.Errorf("%s: folder_stats usable", step)
		}
		if want, got := statsByCounting(t, ro), statsFigures(t, ro); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Stats() = %v, want %v", step, got, want)
		}
	}
	reader("a place deleted")
	r, err = Open(ctx, dir, &Options{Purpose: "test"})
	if err != nil {
		t.Fatal(err)
	}
	check("filled by the next writer", true)

	// An archive made before folder_stats: readers count, the first
	// writer fills it.
	r.Close()
	db, err = sql.Open("sqlite", sqliteDSN(filepath.Join(dir, "index.db"), dbWriter))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE folder_stats`, `DELETE FROM meta WHERE key='folder_stats'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	reader("archive without folder_stats")
	r, err = Open(ctx, dir, &Options{Purpose: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	check("filled by its first writer", true)
}
