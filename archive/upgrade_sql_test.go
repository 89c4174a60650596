package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// The conversion and the reader shim at the level of SQL: what the index
// holds after an upgrade, and what a version 1 index shows a reader
// through the shim.

func openWriterDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, "index.db"), dbWriter))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// dumpTables is every row of the tables an upgrade must not touch.
func dumpTables(t testing.TB, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range []string{"meta", "packs", "accounts", "folders", "runs", "ledger", "pending_deletes"} {
		rows, err := db.Query(`SELECT * FROM ` + tb + ` ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			s := fmt.Sprintf("%q", vals)
			if tb == "meta" && (strings.Contains(s, "format_version") || strings.Contains(s, `"`+folderStatsKey+`"`)) { // the latter: derived, folderstats.go
				continue
			}
			out[tb] = append(out[tb], s)
		}
		rows.Close()
	}
	return out
}

type lines struct{ list []string }

func (l *lines) Report(e progress.Event) { l.list = append(l.list, e.Text) }

func TestUpgradeV1SQL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeV1Fixture(t, dir, 3000)
	path := filepath.Join(dir, "index.db")
	before := fileSize(path)
	db := openWriterDB(t, dir)
	untouched := dumpTables(t, db)
	rep := &lines{}
	res, err := convertIndex(ctx, db, rep)
	if err != nil {
		t.Fatalf("convertIndex() = %v", err)
	}
	if res == nil || res.From != 1 || res.To != 2 || res.Messages != int64(len(fx.places)) || res.Blobs != int64(fx.blobs) || res.Missing != 1 || res.Flagsets != 4 {
		t.Fatalf("convertIndex() = %+v; want 1 -> 2, %d places, %d blobs, 1 missing, 4 flagsets", res, len(fx.places), fx.blobs)
	}
	if v, err := indexVersion(ctx, db); err != nil || v != 2 {
		t.Fatalf("format_version = %d, %v; want 2", v, err)
	}
	if after := fileSize(path); after >= before || res.BytesAfter != after || res.BytesBefore != before {
		t.Fatalf("index.db %d -> %d bytes (result %d -> %d); want it smaller after VACUUM", before, after, res.BytesBefore, res.BytesAfter)
	}
	if got := dumpTables(t, db); !reflect.DeepEqual(got, untouched) {
		t.Fatalf("tables an upgrade must not touch changed:\n got %q\nwant %q", got, untouched)
	}
	if probs, err := integrityCheck(ctx, db); err != nil || len(probs) > 0 {
		t.Fatalf("integrity_check = %v, %v", probs, err)
	}
	if len(rep.list) < 3 || !strings.Contains(rep.list[0], "format version 1 to 2") || !strings.Contains(rep.list[len(rep.list)-1], "upgraded") {
		t.Fatalf("progress = %q; want what the upgrade does, begin to end", rep.list)
	}
	var v1Left int
	db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'v1_%' OR name IN ('blobs_message_id', 'messages_hash')`).Scan(&v1Left)
	if v1Left != 0 {
		t.Fatalf("%d version 1 tables or indexes left", v1Left)
	}

	// blobs: ids in pack order, then the missing message; dates parsed.
	pack, err := os.ReadFile(filepath.Join(dir, "data", "00000001.pack"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT id, hash, pack, offset, length, size FROM blobs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	byHash := map[Hash]string{}
	for n := range fx.raw {
		byHash[fx.hash(n)] = n
	}
	var lastOff, id0 int64
	dec := newTestDecoder(t)
	seen := 0
	for rows.Next() {
		var id, pk, off, length, size int64
		var h []byte
		if err := rows.Scan(&id, &h, &pk, &off, &length, &size); err != nil {
			t.Fatal(err)
		}
		seen++
		if id != id0+1 {
			t.Fatalf("blob ids %d then %d; want 1, 2, ...", id0, id)
		}
		id0 = id
		name := byHash[Hash(h)]
		if name == "" {
			t.Fatalf("blob %d: hash %x is no message of the fixture", id, h)
		}
		if pk == 0 {
			if name != "M" || off != 0 || length != 0 || size != int64(len(fx.raw["M"])) {
				t.Fatalf("pack-0 blob %d = %s off %d len %d size %d; want the missing M, size %d", id, name, off, length, size, len(fx.raw["M"]))
			}
			continue
		}
		if off <= lastOff {
			t.Fatalf("blob %d at offset %d after %d: ids not in pack order", id, off, lastOff)
		}
		lastOff = off
		if raw, err := dec.DecodeAll(pack[off:off+length], nil); err != nil || !bytes.Equal(raw, fx.raw[name]) || size != int64(len(raw)) {
			t.Fatalf("blob %d (%s) does not read back byte-exact: %v", id, name, err)
		}
	}
	rows.Close()
	if seen != fx.blobs+1 {
		t.Fatalf("%d blobs rows, want %d stored + 1 missing", seen, fx.blobs)
	}

	// messages: same ids and columns; blob, flags, date and zone encoded.
	rows, err = db.Query(`SELECT m.id, f.name, a.name, m.uidvalidity, m.uid, m.uidl, b.hash, b.pack, m.size, m.flags, coalesce(fs.flags, ''),
		m.date, m.tz, m.first_seen, m.gone_since, m.gone_reason
		FROM messages m JOIN blobs b ON b.id=m.blob JOIN folders f ON f.id=m.folder JOIN accounts a ON a.id=f.account
		LEFT JOIN flagsets fs ON fs.id=m.flags ORDER BY m.id`)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var p v1Place
		var h []byte
		var pk, size, flagID int64
		var flags string
		var date, tz sql.NullInt64
		if err := rows.Scan(&p.id, &p.folder, &p.account, &p.uidvalidity, &p.uid, &p.uidl, &h, &pk, &size, &flagID, &flags,
			&date, &tz, &p.first, &p.gone, &p.reason); err != nil {
			t.Fatal(err)
		}
		if i >= len(fx.places) {
			t.Fatalf("more messages than the fixture's %d", len(fx.places))
		}
		w := fx.places[i]
		i++
		if (flagID == 0) != (w.flags == "") || flags != w.flags {
			t.Fatalf("place %d flags %d %q, want %q", w.id, flagID, flags, w.flags)
		}
		if Hash(h) != fx.hash(w.msg) || size != int64(len(fx.raw[w.msg])) || (pk == 0) != w.missing {
			t.Fatalf("place %d: blob %x pack %d size %d; want %s (missing %v)", w.id, h, pk, size, w.msg, w.missing)
		}
		// An INTERNALDATE as it was, zone and all; a place without one
		// dated by its message's Date: header (tz NULL), if readable.
		if wt, ok := parseV1Date(w.date); ok {
			if !date.Valid || !tz.Valid || date.Int64 != wt.Unix() || time.Unix(date.Int64, 0).In(time.FixedZone("", int(tz.Int64)*60)).Format(DateLayout) != w.date {
				t.Fatalf("place %d: date %v tz %v; want %q", w.id, date, tz, w.date)
			}
		} else if ht, ok := ParseDateHeader(ParseHeader(fx.raw[w.msg]).Date); date.Valid != ok || tz.Valid || (ok && date.Int64 != ht.Unix()) {
			t.Fatalf("place %d (no INTERNALDATE): date %v tz %v; want its Date: header %v (%v), no zone", w.id, date, tz, ht, ok)
		}
		p.msg, p.flags, p.date, p.missing, p.modseq, p.last = w.msg, w.flags, w.date, w.missing, w.modseq, w.last
		if p != w {
			t.Fatalf("place %d = %+v\nwant %+v", w.id, p, w)
		}
	}
	rows.Close()
	if i != len(fx.places) {
		t.Fatalf("%d messages, want %d", i, len(fx.places))
	}

	// Done is done: a second run has nothing to do.
	if res, err := convertIndex(ctx, db, nil); err != nil || res != nil {
		t.Fatalf("convertIndex() again = %+v, %v; want nothing to do", res, err)
	}
}

// readerRow is what a version 2 reader query returns, in comparable form.
type readerRow struct {
	ID, Size, Gone      int64
	UID                 int64
	UIDL, Flags, Reason string
	Hash                string
	Date                string
}

// v2ReaderQuery is written as the version 2 readers write theirs.
const v2ReaderQuery = `SELECT m.id, m.uid, m.uidl, b.hash, m.size,
	coalesce((SELECT fs.flags FROM flagsets fs WHERE fs.id=m.flags), nullif(m.flags, 0), ''),
	m.date, m.tz, m.gone_since, m.gone_reason
	FROM messages m JOIN blobs b ON b.id=m.blob JOIN folders f ON f.id=m.folder
	WHERE b.pack<>0 ORDER BY f.name, m.uidvalidity, m.uid, m.id`

func readerRows(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) []readerRow {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), v2ReaderQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []readerRow
	for rows.Next() {
		var r readerRow
		var h []byte
		var date, tz any
		if err := rows.Scan(&r.ID, &r.UID, &r.UIDL, &h, &r.Size, &r.Flags, &date, &tz, &r.Gone, &r.Reason); err != nil {
			t.Fatal(err)
		}
		r.Hash = fmt.Sprintf("%x", h)
		d, undated := scanPlaceDate(date, tz) // as Messages reads them (encode.go)
		r.Date = fmt.Sprintf("%d %v", d.Unix(), undated)
		if !undated {
			r.Date = d.Format(DateLayout)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestV1ReaderShimSQL: through the shim (every reader connection gets it,
// openIndexDB), a version 1 index answers a version 2 reader's query as
// its upgraded copy does, and is not changed.
func TestV1ReaderShimSQL(t *testing.T) {
	ctx := context.Background()
	v1dir, v2dir := t.TempDir(), t.TempDir()
	writeV1Fixture(t, v1dir, 20)
	writeV1Fixture(t, v2dir, 20)
	if _, err := convertIndex(ctx, openWriterDB(t, v2dir), nil); err != nil {
		t.Fatal(err)
	}
	v2db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(v2dir, "index.db"), dbReader))
	if err != nil {
		t.Fatal(err)
	}
	defer v2db.Close()
	want := readerRows(t, v2db)
	if len(want) != 29 {
		t.Fatalf("upgraded copy lists %d places, want 29 (all but the missing one)", len(want))
	}
	path := filepath.Join(v1dir, "index.db")
	sum := fileSum(t, path)
	for _, how := range []int{dbReader, dbImmutable} {
		t.Run(fmt.Sprint(how), func(t *testing.T) {
			db, err := openIndexDB(sqliteDSN(path, how), v1dir, how, false)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			got := readerRows(t, conn)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("through the shim:\n%+v\nupgraded:\n%+v", got, want)
			}
			// A lookup by hash, as the version 2 readers make it.
			h := HashBytes(v1Msg("A", "Mon, 4 Mar 2019 05:06:07 -0500", 30))
			var pk, off int64
			if err := conn.QueryRowContext(ctx, `SELECT pack, offset FROM blobs WHERE substr(hash, 1, 8)=substr(?1, 1, 8) AND hash=?1`, h[:]).Scan(&pk, &off); err != nil || pk != 1 {
				t.Fatalf("lookup by hash = %d %d %v", pk, off, err)
			}
			// Readers cannot write through it.
			if _, err := conn.ExecContext(ctx, `DELETE FROM main.messages`); err == nil {
				t.Fatal("a reader deleted v1 messages")
			}
		})
	}
	if fileSum(t, path) != sum {
		t.Fatal("reading through the shim changed index.db")
	}
	if v, _ := os.ReadFile(filepath.Join(v1dir, "mailkeep-archive")); string(v) != v1Marker {
		t.Fatalf("reading changed the marker: %q", v)
	}
}

func newTestDecoder(t testing.TB) *zstd.Decoder {
	d, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}
