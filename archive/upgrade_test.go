package archive

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// entryKey is an Entry in a form that compares field by field (dates by
// instant and zone offset, whatever *time.Location made them).
func entryKey(e *Entry) string {
	d := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	return fmt.Sprintf("id=%d folder=%d %s/%s uv=%d uid=%d uidl=%q hash=%s size=%d flags=%q date=%s first=%s gone=%s reason=%q hdr=%+v stored=%d",
		e.ID, e.Folder, e.Account, e.FolderName, e.UIDValidity, e.UID, e.UIDL, e.Hash, e.Size, e.Flags, d(e.InternalDate),
		d(e.FirstSeen), d(e.GoneSince), e.GoneReason, e.Header, e.Stored)
}

func listAll(t testing.TB, r *Repo) []string {
	t.Helper()
	var out []string
	for e, err := range r.Messages(context.Background(), Query{IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entryKey(e))
	}
	return out
}

// readRaw opens the index with plain SQL, read-only.
func readRaw(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, "index.db"), dbReader))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestUpgradeV1Archive: a version 1 archive read as it is (the shim), then
// upgraded by its first writer: every message reads back byte-exact by
// place with the same flags, dates, zones and gone reasons, the missing
// place stays missing, the other tables are as they were, the index is
// smaller, verify passes and a backup writes into it.
func TestUpgradeV1Archive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeV1Fixture(t, dir, 500)
	byID := map[int64]v1Place{}
	for _, p := range fx.places {
		byID[p.id] = p
	}
	path := filepath.Join(dir, "index.db")
	before, sum := fileSize(path), fileSum(t, path)
	untouched := dumpTables(t, readRaw(t, dir))

	// (b) Read-only: the shim lists every place but the missing one, and
	// changes nothing.
	ro, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatalf("read-only Open() of a version 1 archive = %v", err)
	}
	v1List := listAll(t, ro)
	for e, err := range ro.Messages(ctx, Query{IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if raw, err := ro.ReadMessage(ctx, e.Hash); err != nil || !bytes.Equal(raw, fx.raw[byID[e.ID].msg]) {
			t.Fatalf("version 1, read-only: place %d does not read back: %v", e.ID, err)
		}
	}
	if ok, _ := ro.HasBlob(ctx, fx.hash("M")); ok {
		t.Fatal("version 1, read-only: the missing message counts as stored")
	}
	ro.Close()
	if len(v1List) != len(fx.places)-1 {
		t.Fatalf("read-only Messages() of version 1 lists %d places, want %d (all but the missing one)", len(v1List), len(fx.places)-1)
	}
	if fileSum(t, path) != sum {
		t.Fatal("a read-only open changed index.db")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mailkeep-archive")); string(b) != v1Marker {
		t.Fatal("a read-only open changed the marker")
	}

	// (a) The first writer upgrades.
	w := &lines{}
	r, err := Open(ctx, dir, &Options{Report: w})
	if err != nil {
		t.Fatalf("writer Open() of a version 1 archive = %v", err)
	}
	defer r.Close()
	if !slices.ContainsFunc(w.list, func(s string) bool { return strings.Contains(s, "upgraded to format version 2") }) {
		t.Fatalf("progress = %q; want the upgrade reported", w.list)
	}
	v2List := listAll(t, r)
	if !reflect.DeepEqual(v2List, v1List) {
		t.Fatalf("after the upgrade Messages() lists\n%s\nbefore (read-only, version 1)\n%s", strings.Join(v2List, "\n"), strings.Join(v1List, "\n"))
	}
	seen := map[int64]bool{}
	for e, err := range r.Messages(ctx, Query{IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		p := byID[e.ID]
		seen[e.ID] = true
		raw, err := r.ReadMessage(ctx, e.Hash)
		if err != nil || !bytes.Equal(raw, fx.raw[p.msg]) {
			t.Fatalf("place %d (%s) does not read back byte-exact: %v", e.ID, p.msg, err)
		}
		if JoinFlags(e.Flags) != p.flags || e.GoneReason != p.reason || unix(e.GoneSince) != p.gone || e.UIDL != p.uidl || e.UID != p.uid {
			t.Fatalf("place %d = %s; want %+v", e.ID, entryKey(e), p)
		}
		if wt, ok := parseV1Date(p.date); ok && (!e.InternalDate.Equal(wt) || e.InternalDate.Format(DateLayout) != p.date) {
			t.Fatalf("place %d INTERNALDATE %s, want %s (zone kept)", e.ID, e.InternalDate.Format(DateLayout), p.date)
		}
	}
	for _, p := range fx.places {
		if seen[p.id] == p.missing {
			t.Fatalf("place %d (%s, missing %v): listed %v", p.id, p.msg, p.missing, seen[p.id])
		}
	}
	if ok, _ := r.HasBlob(ctx, fx.hash("M")); ok {
		t.Fatal("the missing message counts as stored after the upgrade")
	}
	raw := readRaw(t, dir)
	if v, err := indexVersion(ctx, raw); err != nil || v != 2 {
		t.Fatalf("format_version = %d, %v; want 2", v, err)
	}
	if got := dumpTables(t, raw); !reflect.DeepEqual(got, untouched) {
		t.Fatalf("tables the upgrade must not touch changed:\n got %q\nwant %q", got, untouched)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mailkeep-archive")); string(b) != formatMarker {
		t.Fatalf("marker = %q, want version 2", b)
	}
	if after := fileSize(path); after >= before {
		t.Fatalf("index.db %d -> %d bytes; want it smaller", before, after)
	}
	v, err := r.Verify(ctx, "", nil)
	if err != nil || len(v.Damaged)+len(v.Packs)+len(v.Index) != 0 || v.Checked != int64(fx.blobs) || len(v.Missing) != 1 || !strings.Contains(v.Missing[0], "uid 4") {
		t.Fatalf("Verify() = %+v, %v; want %d intact and work/INBOX uid 4 missing", v, err, fx.blobs)
	}

	// A backup writes into it: a new message, and the missing one again.
	acct, err := r.Account(ctx, "work", "imap")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := r.Folder(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	nw := v1Msg("new", "Mon, 1 Dec 2026 10:00:00 +0100", 7)
	h, added, err := r.PutMessage(ctx, nw)
	if err != nil || !added {
		t.Fatalf("PutMessage() = %v, %v", added, err)
	}
	date := time.Date(2026, 12, 1, 10, 0, 1, 0, time.FixedZone("", -5*3600))
	if err := r.AddMessage(ctx, &Message{Folder: inbox.ID, UIDValidity: 7, UID: 5, Hash: h, Size: int64(len(nw)), Flags: []string{`\Seen`}, InternalDate: date}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.PutMessage(ctx, fx.raw["M"]); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatalf("Commit() after the upgrade = %v", err)
	}
	var gotNew, gotM bool
	for e, err := range r.Messages(ctx, Query{Account: "work", Folder: "INBOX"}) {
		if err != nil {
			t.Fatal(err)
		}
		raw, err := r.ReadMessage(ctx, e.Hash)
		if err != nil {
			t.Fatal(err)
		}
		switch e.UID {
		case 5:
			gotNew = bytes.Equal(raw, nw) && JoinFlags(e.Flags) == `\Seen` && e.InternalDate.Format(DateLayout) == date.Format(DateLayout)
		case 4:
			gotM = bytes.Equal(raw, fx.raw["M"]) && e.ID == 6
		}
	}
	if !gotNew || !gotM {
		t.Fatalf("after a write: new message listed right %v, missing one stored again %v", gotNew, gotM)
	}
	if v, err := r.Verify(ctx, "", nil); err != nil || !v.OK() || v.Checked != int64(fx.blobs+2) {
		t.Fatalf("Verify() after a write = %+v, %v; want %d intact, nothing missing", v, err, fx.blobs+2)
	}
}

// TestUpgradeAPI: Upgrade (repair --upgrade) upgrades, says what it did,
// and then finds nothing to do; a marker left saying version 1 by an
// upgrade killed after its commit is rewritten by the next writer.
func TestUpgradeAPI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeV1Fixture(t, dir, 100)
	res, err := Upgrade(ctx, dir, nil)
	if err != nil || res.From != 1 || res.To != 2 || res.Messages != int64(len(fx.places)) || res.BytesAfter >= res.BytesBefore {
		t.Fatalf("Upgrade() = %+v, %v; want 1 -> 2, %d places, smaller", res, err, len(fx.places))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mailkeep-archive")); string(b) != formatMarker {
		t.Fatalf("marker = %q, want version 2", b)
	}
	if res, err := Upgrade(ctx, dir, nil); err != nil || res.From != 2 || res.To != 2 {
		t.Fatalf("Upgrade() again = %+v, %v; want already version 2", res, err)
	}
	os.WriteFile(filepath.Join(dir, "mailkeep-archive"), []byte(v1Marker), 0o600)
	r, err := Open(ctx, dir, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "mailkeep-archive")); string(b) != formatMarker {
		t.Fatalf("marker after a writer = %q, want version 2", b)
	}
}

// TestRepairDamagedV1: repair of a version 1 index that fails its
// integrity check converts what it salvages: every place keeps its id,
// flags and dates, the missing one stays missing.
func TestRepairDamagedV1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeV1Fixture(t, dir, 300)
	ro, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := listAll(t, ro)
	var root int64
	if err := ro.rdb.QueryRowContext(ctx, `SELECT rootpage FROM main.sqlite_master WHERE name='messages_hash'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	ro.Close()
	f, _ := os.OpenFile(filepath.Join(dir, "index.db"), os.O_RDWR, 0)
	f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), (root-1)*4096)
	f.Close()
	res, err := Repair(ctx, dir, nil)
	if err != nil || res.IndexMovedTo == "" || res.Salvaged["messages"] != int64(len(fx.places)) {
		t.Fatalf("Repair() = %+v, %v; want the v1 index moved aside and its %d places salvaged", res, err, len(fx.places))
	}
	if res.Recovered != 1 { // H: stored, never placed
		t.Fatalf("Repair() recovered %d messages into lost+found, want 1 (H)", res.Recovered)
	}
	r, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for e, err := range r.Messages(ctx, Query{IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Account == RecoveredAccount {
			continue
		}
		got = append(got, entryKey(e))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after repair:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v, err := r.Verify(ctx, "", nil); err != nil || len(v.Missing) != 1 || len(v.Damaged)+len(v.Index)+len(v.Packs) != 0 {
		t.Fatalf("Verify() after repair = %+v, %v; want only the missing place", v, err)
	}
}

// TestInstallIndexV1: an off-site copy made by a version 1 mailkeep
// (its index snapshot is version 1) is pulled into a version 2 archive,
// upgraded as it is installed; a push of a version 1 archive reads its
// snapshot's packs.
func TestInstallIndexV1(t *testing.T) {
	ctx := context.Background()
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "pulled")
	fx := writeV1Fixture(t, src, 50)
	ro, err := Open(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := listAll(t, ro)
	snap := filepath.Join(t.TempDir(), "index.db")
	if err := ro.SnapshotIndex(ctx, snap); err != nil {
		t.Fatalf("SnapshotIndex() of a version 1 archive = %v", err)
	}
	ro.Close()
	packs, err := IndexPacks(ctx, snap)
	if err != nil || len(packs) != 1 || packs[0].Name != "00000001.pack" {
		t.Fatalf("IndexPacks() of a version 1 snapshot = %+v, %v", packs, err)
	}
	os.MkdirAll(filepath.Join(dst, "data"), 0o700)
	b, _ := os.ReadFile(filepath.Join(src, "data", "00000001.pack"))
	os.WriteFile(filepath.Join(dst, "data", "00000001.pack"), b, 0o600)
	if err := InstallIndex(ctx, dst, snap, false); err != nil {
		t.Fatalf("InstallIndex() of a version 1 snapshot = %v", err)
	}
	r, err := Open(ctx, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, err := indexVersion(ctx, r.rdb); err != nil || v != 2 {
		t.Fatalf("pulled index has format version %d, %v; want 2", v, err)
	}
	if got := listAll(t, r); !reflect.DeepEqual(got, want) {
		t.Fatalf("pulled archive lists\n%s\nthe version 1 original\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m, _ := os.ReadFile(filepath.Join(dst, "mailkeep-archive")); string(m) != formatMarker {
		t.Fatalf("marker = %q", m)
	}
	if v, err := r.Verify(ctx, "", nil); err != nil || v.Checked != int64(fx.blobs) || len(v.Damaged)+len(v.Packs) != 0 {
		t.Fatalf("Verify() = %+v, %v", v, err)
	}
}

// TestV1ReaderAcrossUpgrade: a reader that has a version 1 archive open
// (serve) goes on reading it after another process upgraded it.
func TestV1ReaderAcrossUpgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeV1Fixture(t, dir, 30)
	ro, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	before := listAll(t, ro)
	if res, err := Upgrade(ctx, dir, nil); err != nil || res.From != 1 {
		t.Fatalf("Upgrade() = %+v, %v", res, err)
	}
	for i := 0; i < 3; i++ { // every connection of the pool, reused
		if after := listAll(t, ro); !reflect.DeepEqual(after, before) {
			t.Fatalf("the reader after the upgrade lists\n%s\nbefore\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
		}
	}
	if raw, err := ro.ReadMessage(ctx, fx.hash("A")); err != nil || !bytes.Equal(raw, fx.raw["A"]) {
		t.Fatalf("ReadMessage() after the upgrade = %v", err)
	}
}

// TestRepairIntactV1: repair of a sound version 1 archive upgrades it
// (as any writer does) and then repairs version 2.
func TestRepairIntactV1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeV1Fixture(t, dir, 40)
	ro, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := listAll(t, ro)
	ro.Close()
	res, err := Repair(ctx, dir, nil)
	if err != nil || res.IndexMovedTo != "" || len(res.Missing) != 1 || res.Recovered != 1 || len(res.Damage) != 0 {
		t.Fatalf("Repair() = %+v, %v; want no damage, the one missing place, H recovered", res, err)
	}
	r, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, err := indexVersion(ctx, r.rdb); err != nil || v != 2 {
		t.Fatalf("format_version after repair = %d, %v", v, err)
	}
	var got []string
	for e, err := range r.Messages(ctx, Query{IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Account != RecoveredAccount {
			got = append(got, entryKey(e))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after repair:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
