package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Account is one mail account as the archive knows it.
type Account struct {
	ID       int64
	Name     string
	Protocol string // "imap" or "pop3" (or "import")
}

// Folder is one folder of an account and its incremental state.
type Folder struct {
	ID            int64
	Account       int64
	Name          string
	Delimiter     string
	SpecialUse    string // "\Sent", "\Trash", ... or ""
	Attrs         []string
	Subscribed    bool
	UIDValidity   uint32
	LastUID       uint32 // every UID up to this one is archived
	UIDNext       uint32 // as the server last reported it
	HighestModSeq uint64
	ServerCount   uint32 // messages on the server at the last backup
	FirstSeen     time.Time
	LastSeen      time.Time
	GoneSince     time.Time // zero while the folder exists on the server
}

// Message is one place a stored message was seen: a folder and UID (IMAP)
// or UIDL (POP3).
type Message struct {
	ID           int64
	Folder       int64
	UIDValidity  uint32
	UID          uint32
	UIDL         string
	Hash         Hash
	Size         int64
	Flags        []string
	InternalDate time.Time // with the zone the server gave
	FirstSeen    time.Time
	GoneSince    time.Time
	GoneReason   string // "expunged", "cleanup", "pop3-deleted", "uidvalidity"
}

// Reasons a message is no longer on the server.
const (
	GoneExpunged    = "expunged"
	GoneCleanup     = "cleanup"
	GonePOP3Deleted = "pop3-deleted"
	GoneUIDValidity = "uidvalidity"
	GoneFolder      = "folder-gone"
)

// DateLayout is how INTERNALDATE is stored: RFC 3339 with the server's zone.
const DateLayout = "2006-01-02T15:04:05-07:00"

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// JoinFlags is the stored form of a flag list: sorted, space separated,
// case preserved, \Recent dropped (it is session state, RFC 3501 2.3.2).
func JoinFlags(flags []string) string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == "" || strings.EqualFold(f, `\Recent`) {
			continue
		}
		out = append(out, f)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// SplitFlags is the inverse of JoinFlags.
func SplitFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// withTx runs fn inside the writer transaction, under the writer lock.
func (r *Repo) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	// A cancelled caller does not start new work, but work once started
	// is not cut short: a half-run statement would force a rollback of
	// everyone's pending rows.
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin(ctx); err != nil {
		return err
	}
	if err := fn(r.tx); err != nil {
		// A failed statement leaves the shared transaction in doubt: roll
		// everything back and refuse further writes (see abortLocked).
		return r.abortLocked(err)
	}
	r.dirty = true
	return nil
}

// Account returns the account called name, creating it if new.
func (r *Repo) Account(ctx context.Context, name, protocol string) (*Account, error) {
	a := &Account{Name: name, Protocol: protocol}
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(context.WithoutCancel(ctx), `SELECT id, protocol FROM accounts WHERE name=?`, name).Scan(&a.ID, &a.Protocol)
		if errors.Is(err, sql.ErrNoRows) {
			res, err := tx.ExecContext(context.WithoutCancel(ctx), `INSERT INTO accounts(name, protocol, created_at) VALUES(?,?,?)`,
				name, protocol, r.Now().Unix())
			if err != nil {
				return err
			}
			a.ID, err = res.LastInsertId()
			return err
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("index: account %s: %w", name, err)
	}
	return a, nil
}

const folderCols = `id, account, name, delimiter, special_use, attrs, subscribed, uidvalidity, last_uid, uidnext,
	highest_modseq, server_count, first_seen, last_seen, gone_since`

type scanner interface{ Scan(...any) error }

func scanFolder(s scanner) (*Folder, error) {
	f := &Folder{}
	var attrs string
	var first, last, gone int64
	err := s.Scan(&f.ID, &f.Account, &f.Name, &f.Delimiter, &f.SpecialUse, &attrs, &f.Subscribed, &f.UIDValidity,
		&f.LastUID, &f.UIDNext, &f.HighestModSeq, &f.ServerCount, &first, &last, &gone)
	if err != nil {
		return nil, err
	}
	f.Attrs = SplitFlags(attrs)
	f.FirstSeen, f.LastSeen, f.GoneSince = fromUnix(first), fromUnix(last), fromUnix(gone)
	return f, nil
}

// Folder returns the folder of acct called name, creating it if new.
func (r *Repo) Folder(ctx context.Context, acct *Account, name string) (*Folder, error) {
	var f *Folder
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		var err error
		f, err = scanFolder(tx.QueryRowContext(context.WithoutCancel(ctx), `SELECT `+folderCols+` FROM folders WHERE account=? AND name=?`, acct.ID, name))
		if errors.Is(err, sql.ErrNoRows) {
			now := r.Now().Unix()
			res, err := tx.ExecContext(context.WithoutCancel(ctx), `INSERT INTO folders(account, name, first_seen, last_seen) VALUES(?,?,?,?)`,
				acct.ID, name, now, now)
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			f = &Folder{ID: id, Account: acct.ID, Name: name, FirstSeen: fromUnix(now), LastSeen: fromUnix(now)}
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("index: folder %s/%s: %w", acct.Name, name, err)
	}
	return f, nil
}

// UpdateFolder stores f's metadata and incremental state.
func (r *Repo) UpdateFolder(ctx context.Context, f *Folder) error {
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.WithoutCancel(ctx), `UPDATE folders SET delimiter=?, special_use=?, attrs=?, subscribed=?, uidvalidity=?,
			last_uid=?, uidnext=?, highest_modseq=?, server_count=?, last_seen=?, gone_since=? WHERE id=?`,
			f.Delimiter, f.SpecialUse, strings.Join(f.Attrs, " "), f.Subscribed, f.UIDValidity, f.LastUID, f.UIDNext,
			f.HighestModSeq, f.ServerCount, unix(f.LastSeen), unix(f.GoneSince), f.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: folder %s: %w", f.Name, err)
	}
	return nil
}

// Folders lists the folders of acct (gone ones too), by name.
func (r *Repo) Folders(ctx context.Context, acct *Account) ([]*Folder, error) {
	rows, err := r.query(ctx, `SELECT `+folderCols+` FROM folders WHERE account=? ORDER BY name`, acct.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Folder
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// query reads through the writer transaction when one is open (so a
// writer sees its own pending rows), else through the reader pool.
func (r *Repo) query(ctx context.Context, q string, args ...any) (*txRows, error) {
	r.mu.Lock()
	if r.tx != nil {
		// The writer transaction's connection is shared by every goroutine;
		// the driver cancels a statement by interrupting the connection, which
		// could hit another goroutine's statement. Nothing on it is cancelled.
		// The lock is held until the rows are closed: another goroutine's
		// Commit would otherwise end the transaction under them (its rows
		// then fail with "context canceled" or "sql: Rows are closed", and
		// that account's folder with them). Callers read the rows through
		// and close them, calling nothing else of the Repo meanwhile.
		rows, err := r.tx.QueryContext(context.WithoutCancel(ctx), q, args...)
		if err != nil {
			r.mu.Unlock()
			return nil, err
		}
		return &txRows{Rows: rows, unlock: r.mu.Unlock}, nil
	}
	r.mu.Unlock()
	rows, err := r.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return &txRows{Rows: rows}, nil
}

// txRows are the rows of query; Close releases the Repo's lock when they
// were read inside the writer transaction.
type txRows struct {
	*sql.Rows
	once   sync.Once
	unlock func()
}

func (t *txRows) Close() error {
	err := t.Rows.Close()
	if t.unlock != nil {
		t.once.Do(t.unlock)
	}
	return err
}

// LookupAccount finds an existing account; os.ErrNotExist-like error if none.
func (r *Repo) LookupAccount(ctx context.Context, name string) (*Account, error) {
	a := &Account{Name: name}
	rows, err := r.query(ctx, `SELECT id, protocol FROM accounts WHERE name=?`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, fmt.Errorf("archive has no account %q: %w", name, ErrNotFound)
	}
	if err := rows.Scan(&a.ID, &a.Protocol); err != nil {
		return nil, err
	}
	return a, nil
}

// ErrNotFound is wrapped by lookups of accounts and folders that the
// archive does not hold.
var ErrNotFound = errors.New("not found")

// Accounts lists every account in the archive by name.
func (r *Repo) Accounts(ctx context.Context) ([]*Account, error) {
	rows, err := r.query(ctx, `SELECT id, name, protocol FROM accounts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Account
	for rows.Next() {
		a := &Account{}
		if err := rows.Scan(&a.ID, &a.Name, &a.Protocol); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AddMessage records that m.Hash was seen at m's place. Seeing the same
// place again refreshes its flags and clears gone_since.
func (r *Repo) AddMessage(ctx context.Context, m *Message) error {
	now := r.Now().Unix()
	date, tz := placeDate(m.InternalDate)
	err := r.withTx(ctx, func(tx *sql.Tx) error {
		ctx := context.WithoutCancel(ctx)
		blob, err := r.placeBlobLocked(ctx, tx, m.Hash, m.Size)
		if err != nil {
			return err
		}
		if date == nil {
			date = r.dateHeaderLocked(ctx, m.Hash)
		}
		flags, err := r.flagSetLocked(ctx, tx, JoinFlags(m.Flags))
		if err != nil {
			return err
		}
		st, err := r.txStmt(ctx, sqlUpsertMessage)
		if err != nil {
			return err
		}
		args := []any{m.Folder, m.UIDValidity, m.UID, m.UIDL, blob, m.Size, flags, date, tz, now}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		// A gone place that comes back with other content: the archived
		// message keeps its row under a key of its own, gone as it was.
		if _, err := tx.ExecContext(ctx, sqlSetAsideMessage, m.Folder, m.UIDValidity, m.UID, m.UIDL, blob); err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: message uid %d: %w", m.UID, err)
	}
	return nil
}

// placeBlobLocked is the blobs id a place of h names; a message that is
// not stored (a place recorded before its message, or whose copy is
// missing) gets a row with pack 0, so that the place keeps its hash.
func (r *Repo) placeBlobLocked(ctx context.Context, tx *sql.Tx, h Hash, size int64) (int64, error) {
	id, _, err := r.blobIDLocked(ctx, h)
	if err != nil || id != 0 {
		return id, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO blobs(hash, pack, offset, length, size) VALUES(?,0,0,0,?)`, h[:], size)
	if err != nil {
		return 0, err
	}
	if id, err = res.LastInsertId(); err != nil {
		return 0, err
	}
	r.pending[h] = Blob{ID: id, Hash: h, Size: size}
	r.noteBlobLocked(h)
	return id, nil
}

// dateHeaderLocked is the Date: header of the stored message h, in Unix
// seconds (nil: none, unreadable, or not stored): what dates a place
// without an INTERNALDATE. A message stored in the open transaction
// carries it; another is read back.
func (r *Repo) dateHeaderLocked(ctx context.Context, h Hash) any {
	if b, ok := r.pending[h]; ok {
		if b.Pack == 0 {
			return nil
		}
		return headerDate(b.date)
	}
	b, err := r.committedBlob(ctx, h)
	if err != nil {
		return nil
	}
	return headerDate(r.headerOf(b).Date)
}

// flagSetLocked is the flagsets id of flags (JoinFlags form), made if
// new; 0 for no flags. Ids made in the open transaction are forgotten when
// it rolls back (tx.go).
func (r *Repo) flagSetLocked(ctx context.Context, tx *sql.Tx, flags string) (int64, error) {
	if flags == "" {
		return 0, nil
	}
	if id, ok := r.flagIDs[flags]; ok {
		return id, nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM flagsets WHERE flags=?`, flags).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		if res, err = tx.ExecContext(ctx, `INSERT INTO flagsets(flags) VALUES(?)`, flags); err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, err
	}
	if r.flagIDs == nil {
		r.flagIDs = map[string]int64{}
	}
	r.flagIDs[flags] = id
	return id, nil
}

// SetFlags updates the flags of the message at (folder, uidvalidity, uid).
func (r *Repo) SetFlags(ctx context.Context, folder int64, uidvalidity, uid uint32, flags []string) error {
	return r.withTx(ctx, func(tx *sql.Tx) error {
		ctx := context.WithoutCancel(ctx)
		id, err := r.flagSetLocked(ctx, tx, JoinFlags(flags))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE messages SET flags=? WHERE folder=? AND uidvalidity=? AND uid=? AND uidl=''`,
			id, folder, uidvalidity, uid)
		return err
	})
}

// MarkGone records that the messages at these UIDs (or UIDLs) left the server.
func (r *Repo) MarkGone(ctx context.Context, folder int64, uidvalidity uint32, uids []uint32, uidls []string, reason string, at time.Time) error {
	return r.withTx(ctx, func(tx *sql.Tx) error {
		for _, uid := range uids {
			if _, err := tx.ExecContext(context.WithoutCancel(ctx), `UPDATE messages SET gone_since=?, gone_reason=? WHERE folder=? AND uidvalidity=? AND uid=? AND uidl='' AND gone_since=0`,
				at.Unix(), reason, folder, uidvalidity, uid); err != nil {
				return err
			}
		}
		for _, uidl := range uidls {
			if _, err := tx.ExecContext(context.WithoutCancel(ctx), `UPDATE messages SET gone_since=?, gone_reason=? WHERE folder=? AND uidl=? AND gone_since=0`,
				at.Unix(), reason, folder, uidl); err != nil {
				return err
			}
		}
		return nil
	})
}

// MarkFolderGone records that a folder (and so every message in it) is no
// longer on the server. reason is GoneFolder or GoneUIDValidity; for the
// latter only messages of other UIDVALIDITYs than keep are marked.
func (r *Repo) MarkFolderGone(ctx context.Context, f *Folder, reason string, keepUIDValidity uint32, at time.Time) error {
	return r.withTx(ctx, func(tx *sql.Tx) error {
		if reason == GoneFolder {
			f.GoneSince = at
			if _, err := tx.ExecContext(context.WithoutCancel(ctx), `UPDATE folders SET gone_since=? WHERE id=? AND gone_since=0`, at.Unix(), f.ID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(context.WithoutCancel(ctx), `UPDATE messages SET gone_since=?, gone_reason=? WHERE folder=? AND uidvalidity<>? AND gone_since=0`,
			at.Unix(), reason, f.ID, keepUIDValidity)
		return err
	})
}

// PresentUIDs returns the UIDs of f under uidvalidity that the archive
// believes are still on the server, ascending.
func (r *Repo) PresentUIDs(ctx context.Context, folder int64, uidvalidity uint32) ([]uint32, error) {
	rows, err := r.query(ctx, `SELECT uid FROM messages WHERE folder=? AND uidvalidity=? AND uidl='' AND gone_since=0 ORDER BY uid`, folder, uidvalidity)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Pending reports whether there are uncommitted changes.
func (r *Repo) Pending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dirty
}
