package archive

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// TestUpgradeScale times the upgrade of a version 1 index of N messages
// (MAILKEEP_UPGRADE_SCALE=N; skipped otherwise; with
// MAILKEEP_UPGRADE_SCALE_DIR=DIR it only makes the archive there). The rows are made by
// SQL, as a version 1 backup of N small messages in 4 folders has them;
// no data file is needed (the upgrade never reads one).
func TestUpgradeScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MAILKEEP_UPGRADE_SCALE"))
	if n <= 0 {
		t.Skip("set MAILKEEP_UPGRADE_SCALE=N to time the upgrade of N messages")
	}
	ctx := context.Background()
	dir := t.TempDir()
	keep := os.Getenv("MAILKEEP_UPGRADE_SCALE_DIR") // build the v1 archive there and stop (to time 'mailkeep repair --upgrade')
	if keep != "" {
		dir = keep
		os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	}
	os.WriteFile(filepath.Join(dir, "mailkeep-archive"), []byte(v1Marker), 0o600)
	db := openWriterDB(t, dir)
	t0 := time.Now()
	for _, q := range []string{schemaV1SQL,
		`INSERT INTO meta(key, value) VALUES('format_version','1'),('commit_seq','1')`,
		`INSERT INTO packs(id, name, size) VALUES(1, '00000001.pack', 1)`,
		`INSERT INTO accounts(id, name, protocol, created_at) VALUES(1, 'work', 'imap', 1)`,
		`INSERT INTO folders(id, account, name, first_seen, last_seen) VALUES(1,1,'INBOX',1,1),(2,1,'a',1,1),(3,1,'b',1,1),(4,1,'c',1,1)`,
		`CREATE TEMP TABLE hs AS WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<` + strconv.Itoa(n) + `)
		SELECT i, randomblob(32) AS h FROM s`,
		`INSERT INTO blobs(hash, pack, offset, length, size, stored_at, message_id, subject, sender, date_header)
		SELECT h, 1, i*600, 560, 1100, 1700000000, '<' || i || '.' || hex(randomblob(6)) || '@example.com>',
			'Notification number ' || i || ' about something', 'Sender ' || (i%50) || ' <s' || (i%50) || '@example.com>',
			strftime('%d ', 1500000000 + i*60, 'unixepoch') ||
			substr('JanFebMarAprMayJunJulAugSepOctNovDec', strftime('%m', 1500000000 + i*60, 'unixepoch')*3-2, 3) ||
			strftime(' %Y %H:%M:%S +0000', 1500000000 + i*60, 'unixepoch') FROM hs ORDER BY i`,
		`INSERT INTO messages(id, folder, uidvalidity, uid, uidl, hash, size, flags, internaldate, modseq, first_seen, last_seen)
		SELECT i, 1 + i%4, 7, i, '', h, 1100, CASE i%3 WHEN 0 THEN '' WHEN 1 THEN '\Seen' ELSE '$Junk \Seen' END,
			strftime('%Y-%m-%dT%H:%M:%S-05:00', 1500000000 + i*60, 'unixepoch'), i, 1700000000, 1700000000 FROM hs ORDER BY i`,
		`DROP TABLE temp.hs`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	t.Logf("made a version 1 index of %d messages in %.1fs: %s", n, time.Since(t0).Seconds(), mib(fileSize(filepath.Join(dir, "index.db"))))
	if keep != "" {
		return
	}
	res, err := convertIndex(ctx, db, &testLog{t})
	if err != nil || res.Messages != int64(n) {
		t.Fatalf("convertIndex() = %+v, %v", res, err)
	}
	t.Logf("upgraded %d messages in %.1fs: index.db %s -> %s (%d bytes a message)", n, res.Took.Seconds(),
		mib(res.BytesBefore), mib(res.BytesAfter), res.BytesAfter/int64(n))
}

type testLog struct{ t testing.TB }

func (l *testLog) Report(e progress.Event) { l.t.Log(e.Text) }
