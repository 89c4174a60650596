package archive

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// A version 1 archive built by hand: the version 1 DDL (schemaV1SQL),
// rows as a version 1 mailkeep wrote them, and real pack frames (hash
// frame + zstd frame, FORMAT.md).

// v1Marker is the marker file of a version 1 archive.
const v1Marker = "mailkeep archive\nversion 1\nsee archive/FORMAT.md in the mailkeep sources\n"

// v1Place is one messages row of the fixture, as written.
type v1Place struct {
	id                int64
	account, folder   string
	uidvalidity, uid  uint32
	uidl              string
	msg               string // key into v1Fixture.raw
	flags, date       string // v1 text forms
	modseq            int64
	first, last, gone int64
	reason            string
	missing           bool // no blobs row: its stored copy was dropped
}

type v1Fixture struct {
	dir    string
	raw    map[string][]byte
	places []v1Place
	blobs  int // stored messages (blobs rows)
}

func (fx *v1Fixture) hash(msg string) Hash { return HashBytes(fx.raw[msg]) }

// hashb is the hash as the index stores it.
func (fx *v1Fixture) hashb(msg string) []byte { h := fx.hash(msg); return h[:] }

const v1Epoch = 1700000000

func v1Msg(name, dateHeader string, body int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Message-ID: <%s@v1.fixture>\r\nFrom: Sender %s <s-%s@example.com>\r\nSubject: version 1 message %s\r\n", name, name, name, name)
	if dateHeader != "" {
		fmt.Fprintf(&b, "Date: %s\r\n", dateHeader)
	}
	b.WriteString("\r\n")
	for i := 0; i < body; i++ {
		fmt.Fprintf(&b, "line %d of %s, not all the same\r\n", i, name)
	}
	return []byte(b.String())
}

// writeV1Fixture makes a version 1 archive in dir with bulk extra
// messages in folder work/Bulk (so that the index has some size).
func writeV1Fixture(t testing.TB, dir string, bulk int) *v1Fixture {
	t.Helper()
	ctx := context.Background()
	fx := &v1Fixture{dir: dir, raw: map[string][]byte{}}
	add := func(name, date string, body int) {
		fx.raw[name] = v1Msg(name, date, body)
	}
	add("A", "Mon, 4 Mar 2019 05:06:07 -0500", 30)
	add("B", "garbage, not a date", 20)
	add("C", "", 10)
	add("D", "Tue, 5 Mar 2019 10:00:00 +0100", 15)
	add("E", "Wed, 6 Mar 2019 11:00:00 +0000", 25)
	add("F", "Thu, 7 Mar 2019 12:30:00 +0530", 5)
	add("G", "", 3)
	add("H", "Fri, 8 Mar 2019 00:00:00 -0800", 8)  // stored, no place (a tail recovered)
	add("M", "Sat, 9 Mar 2019 00:00:00 +0000", 12) // missing: no blobs row
	add("R", "Sun, 10 Mar 2019 00:00:00 +0000", 9) // the new content at a reused UID
	// Stored in this order (pack order); hash order is another.
	stored := []string{"E", "A", "H", "B", "C", "D", "F", "G", "R"}
	for i := 0; i < bulk; i++ {
		n := fmt.Sprintf("bulk%05d", i)
		add(n, time.Unix(v1Epoch-int64(i)*3600, 0).UTC().Format(time.RFC1123Z), 2)
		stored = append(stored, n)
	}
	fx.blobs = len(stored)

	replacedID := int64(7)
	fx.places = []v1Place{
		{id: 1, account: "work", folder: "INBOX", uidvalidity: 7, uid: 1, msg: "A", flags: `\Seen`, date: "2019-03-04T10:06:07+00:00", modseq: 11},
		{id: 2, account: "work", folder: "INBOX", uidvalidity: 7, uid: 2, msg: "R", flags: "", date: "2019-03-10T09:00:00-05:00"},
		{id: 3, account: "work", folder: "Archive", uidvalidity: 3, uid: 1, msg: "A", flags: `$Label1 \Flagged \Seen`, date: "2019-03-04T15:36:07+05:30"},
		{id: 4, account: "work", folder: "INBOX", uidvalidity: 7, uid: 3, msg: "C", flags: `\Seen`, date: "2019-03-05T01:02:03-05:00", gone: v1Epoch + 50, reason: GoneExpunged},
		{id: 5, account: "work", folder: "Sent", uidvalidity: 1, uid: 1, msg: "D", flags: `\Seen`, date: "2019-03-05T10:00:00+01:00", gone: v1Epoch + 60, reason: GoneCleanup},
		{id: 6, account: "work", folder: "INBOX", uidvalidity: 7, uid: 4, msg: "M", flags: `\Answered \Seen`, date: "2019-03-09T00:00:00+00:00", missing: true},
		{id: replacedID, account: "work", folder: "INBOX", uidvalidity: 7, uid: 2, msg: "E", flags: `\Seen`, date: "2019-03-06T11:00:00+00:00", gone: v1Epoch + 40, reason: GoneExpunged},
		{id: 8, account: "pop", folder: "INBOX", uidl: "UIDL-1", msg: "F"},
		{id: 9, account: "pop", folder: "INBOX", uidl: "UIDL-2", msg: "G", gone: v1Epoch + 70, reason: GonePOP3Deleted},
		{id: 10, account: "pop", folder: "INBOX", uidl: "UIDL-3", msg: "B", flags: ""},
	}
	fx.places[6].uidl = fmt.Sprintf("replaced:%s:%d", fx.hash("E"), replacedID)
	for i := 0; i < bulk; i++ {
		fx.places = append(fx.places, v1Place{id: int64(11 + i), account: "work", folder: "Bulk", uidvalidity: 5, uid: uint32(i + 1),
			msg: fmt.Sprintf("bulk%05d", i), flags: []string{"", `\Seen`, `$Junk \Seen`}[i%3],
			date: time.Unix(v1Epoch-int64(i)*3600, 0).In(time.FixedZone("", -300*60)).Format(DateLayout)})
	}
	for i := range fx.places {
		p := &fx.places[i]
		p.first, p.last = v1Epoch+int64(i), v1Epoch+100+int64(i)
	}

	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mailkeep-archive"), []byte(v1Marker), 0o600); err != nil {
		t.Fatal(err)
	}
	// The data file: each message a hash frame and a zstd frame.
	pf, err := os.OpenFile(filepath.Join(dir, "data", "00000001.pack"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	pw := &packWriter{id: 1, path: pf.Name(), f: pf}
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderCRC(true), zstd.WithZeroFrames(true))
	type loc struct{ off, length int64 }
	locs := map[string]loc{}
	for _, n := range stored {
		frame := enc.EncodeAll(fx.raw[n], nil)
		off, err := pw.append(fx.hash(n), frame)
		if err != nil {
			t.Fatal(err)
		}
		locs[n] = loc{off, int64(len(frame))}
	}
	if err := pw.sync(); err != nil {
		t.Fatal(err)
	}
	pw.close()

	path := filepath.Join(dir, "index.db")
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, dbWriter))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(schemaV1SQL)
	exec(pendingSQL)
	exec(`ALTER TABLE ledger ADD COLUMN flags TEXT NOT NULL DEFAULT ''`)
	exec(`INSERT INTO meta(key, value) VALUES('format_version','1'),('created_at','2023-11-14T22:13:20Z'),('commit_seq','3'),
		('namespaces:work','{"spaces":[]}')`)
	exec(`INSERT INTO packs(id, name, size, sealed) VALUES(1, '00000001.pack', ?, 0)`, pw.size)
	for _, n := range stored {
		hi := ParseHeader(fx.raw[n])
		exec(`INSERT INTO blobs(hash, pack, offset, length, size, stored_at, message_id, subject, sender, date_header) VALUES(?,?,?,?,?,?,?,?,?,?)`,
			fx.hashb(n), 1, locs[n].off, locs[n].length, len(fx.raw[n]), v1Epoch, hi.MessageID, hi.Subject, hi.From, hi.Date)
	}
	exec(`INSERT INTO accounts(id, name, protocol, created_at) VALUES(1,'work','imap',?),(2,'pop','pop3',?)`, v1Epoch, v1Epoch)
	folders := map[string]int64{"work/INBOX": 1, "work/Archive": 2, "work/Sent": 3, "pop/INBOX": 4, "work/Bulk": 5}
	exec(`INSERT INTO folders(id, account, name, delimiter, special_use, uidvalidity, last_uid, first_seen, last_seen, gone_since) VALUES
		(1,1,'INBOX','/','',7,4,?,?,0),(2,1,'Archive','/','\Archive',3,1,?,?,0),(3,1,'Sent','/','\Sent',1,1,?,?,0),
		(4,2,'INBOX','','',0,0,?,?,0),(5,1,'Bulk','/','',5,?,?,?,?)`,
		v1Epoch, v1Epoch, v1Epoch, v1Epoch, v1Epoch, v1Epoch, v1Epoch, v1Epoch, bulk, v1Epoch, v1Epoch, v1Epoch+99)
	for _, p := range fx.places {
		exec(`INSERT INTO messages(id, folder, uidvalidity, uid, uidl, hash, size, flags, internaldate, modseq, first_seen, last_seen, gone_since, gone_reason)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, p.id, folders[p.account+"/"+p.folder], p.uidvalidity, p.uid, p.uidl,
			fx.hashb(p.msg), len(fx.raw[p.msg]), p.flags, p.date, p.modseq, p.first, p.last, p.gone, p.reason)
	}
	exec(`INSERT INTO runs(account, job, kind, started, finished, ok, messages, bytes) VALUES('work','nightly','backup',?,?,1,10,12345)`, v1Epoch, v1Epoch+5)
	exec(`INSERT INTO ledger(target, folder, uidvalidity, uid, hash, source, how, at, flags) VALUES
		('new','INBOX',9,1,?,1,'appended',?,'\Seen'),('new','Archive',4,1,?,3,'adopted',?,'')`, fx.hashb("A"), v1Epoch, fx.hashb("A"), v1Epoch)
	exec(`INSERT INTO pending_deletes(folder, uidvalidity, uid, hash, flags, since) VALUES(1,7,1,?,'\Seen',?)`, fx.hashb("A"), v1Epoch)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, commitFile), []byte("mailkeep commit 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fx
}

// TestWriteV1Fixture writes the version 1 fixture into
// MAILKEEP_V1_FIXTURE_DIR, to try mailkeep's commands on by hand.
func TestWriteV1Fixture(t *testing.T) {
	dir := os.Getenv("MAILKEEP_V1_FIXTURE_DIR")
	if dir == "" {
		t.Skip("set MAILKEEP_V1_FIXTURE_DIR=DIR to write a version 1 archive there")
	}
	writeV1Fixture(t, dir, 100)
}
