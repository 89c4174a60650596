package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// Damaged-archive fixtures: an archive written through the API, then
// damaged on disk the way accidents do it.

type fixture struct {
	dir    string
	msgs   map[uint32][]byte // INBOX uid -> raw
	hashes map[uint32]Hash
}

func fixtureMsg(uid uint32) []byte {
	return []byte(fmt.Sprintf("Message-ID: <%d@fixture>\r\nSubject: fixture message %d\r\n\r\n%s\r\n", uid, uid,
		strings.Repeat(fmt.Sprintf("line %d of a body that is not all the same ", uid), 40)))
}

// writeFixture makes an archive with account work, folder INBOX holding
// uids from..to (one commit per message when each is set), closed cleanly.
func writeFixture(t *testing.T, dir string, from, to uint32, each bool) *fixture {
	t.Helper()
	ctx := context.Background()
	r, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fx := &fixture{dir: dir, msgs: map[uint32][]byte{}, hashes: map[uint32]Hash{}}
	acct, err := r.Account(ctx, "work", "imap")
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Folder(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for uid := from; uid <= to; uid++ {
		raw := fixtureMsg(uid)
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		fx.msgs[uid], fx.hashes[uid] = raw, h
		if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 7, UID: uid, Hash: h, Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
		f.UIDValidity, f.LastUID = 7, uid
		if err := r.UpdateFolder(ctx, f); err != nil {
			t.Fatal(err)
		}
		if each {
			if err := r.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return fx
}

// snapshotFiles returns every data file's bytes.
func snapshotFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, _ := os.ReadDir(filepath.Join(dir, "data"))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, "data", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func sameFiles(t *testing.T, what string, before, after map[string][]byte) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("%s: data files %v, were %v", what, keys(after), keys(before))
	}
	for n, b := range before {
		if !bytes.Equal(after[n], b) {
			t.Fatalf("%s: data file %s changed (%d bytes, was %d)", what, n, len(after[n]), len(b))
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func removeIndex(t *testing.T, dir string) {
	t.Helper()
	for _, s := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(dir, "index.db"+s)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mustRefuse opens a writer and wants the repair refusal.
func mustRefuse(t *testing.T, dir, want string) {
	t.Helper()
	r, err := Open(context.Background(), dir, &Options{Create: true})
	if err == nil {
		r.Close()
		t.Fatalf("writer Open() = nil, want a refusal naming repair")
	}
	var nr *NeedsRepairError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "mailkeep repair") || !strings.Contains(err.Error(), want) {
		t.Fatalf("writer Open() = %v; want a NeedsRepairError with %q and the repair hint", err, want)
	}
}

// readAll reads every place of the archive: account/folder/key -> raw.
func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	r, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[string][]byte{}
	for e, err := range r.Messages(ctx, Query{IncludeGone: true}) {
		if err != nil {
			t.Fatal(err)
		}
		raw, err := r.ReadMessage(ctx, e.Hash)
		if err != nil {
			t.Fatalf("ReadMessage(%s/%s uid %d) = %v", e.Account, e.FolderName, e.UID, err)
		}
		key := fmt.Sprintf("%s/%s/%d", e.Account, e.FolderName, e.UID)
		if e.UIDL != "" {
			key = fmt.Sprintf("%s/%s/%s", e.Account, e.FolderName, e.UIDL)
		}
		out[key] = raw
	}
	return out
}

func mustVerify(t *testing.T, dir string) *VerifyResult {
	t.Helper()
	r, err := Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Verify(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) Report(e progress.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.Kind == progress.Warning {
		w.list = append(w.list, e.Text)
	}
}
