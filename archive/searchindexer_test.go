package archive

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// catchUpMsg is message i of the catch-up tests: each has a word of its
// own (kw + i in letters) and the word "catchup".
func catchUpMsg(i int) []byte {
	return fmt.Appendf(nil, "From: sender%d@example.org\r\nSubject: note %d\r\nDate: Mon, 02 Mar 2020 10:00:00 +0000\r\n\r\ncatchup %s body\r\n", i, i, letters(i))
}

// letters spells i in letters (FTS5 tokens of their own: kwbad, kwbae, ...).
func letters(i int) string {
	s := "kw"
	for _, d := range fmt.Sprintf("%04d", i) {
		s += string(rune('a' + d - '0'))
	}
	return s
}

// storeCatchUp stores messages from..to-1 in one folder and commits.
func storeCatchUp(t *testing.T, r *Repo, from, to int) {
	t.Helper()
	ctx := context.Background()
	acct, err := r.Account(ctx, "work", "imap")
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Folder(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		raw := catchUpMsg(i)
		h, _, err := r.PutMessage(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddMessage(ctx, &Message{Folder: f.ID, UIDValidity: 1, UID: uint32(i + 1), Hash: h, Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
		if i%300 == 299 {
			if err := r.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// searchCount is how many places a search finds.
func searchCount(t *testing.T, r *Repo, query string) int {
	t.Helper()
	terms, err := ParseSearch(query)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := r.Search(context.Background(), SearchQuery{Terms: terms})
	if err != nil {
		t.Fatalf("Search(%q): %v", query, err)
	}
	return len(hits)
}

func unindexed(t *testing.T, r *Repo) int64 {
	t.Helper()
	n, err := r.SearchUnindexed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Storing does not index; a writer that stored few messages indexes them
// when it closes, so a reader right after finds every one.
func TestWriterIndexesFewAtClose(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	storeCatchUp(t, w, 0, 40)
	if n := unindexed(t, w); n != 40 {
		t.Fatalf("after storing: SearchUnindexed() = %d, want 40 (backup does not index)", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := unindexed(t, r); n != 0 {
		t.Fatalf("after Close: SearchUnindexed() = %d, want 0", n)
	}
	if got := searchCount(t, r, "catchup"); got != 40 {
		t.Errorf("catchup finds %d, want 40", got)
	}
	if got := searchCount(t, r, letters(17)); got != 1 {
		t.Errorf("%s finds %d, want 1", letters(17), got)
	}
}

// A writer's own search finds what it committed, indexed or not.
func TestWriterSearchCatchesUp(t *testing.T) {
	for _, limit := range []int{2000, 5} { // noted, and too many to note
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			defer func(n int) { freshLimit = n }(freshLimit)
			freshLimit = limit
			w, err := Open(context.Background(), t.TempDir(), &Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			storeCatchUp(t, w, 0, 12)
			if got := searchCount(t, w, "catchup"); got != 12 {
				t.Errorf("catchup finds %d, want 12", got)
			}
			storeCatchUp(t, w, 12, 20)
			if got := searchCount(t, w, "catchup"); got != 20 {
				t.Errorf("after more: catchup finds %d, want 20", got)
			}
		})
	}
}

// A run that stored more than freshLimit leaves them to the search, which
// builds them all (with progress) and then finds each one.
func TestLargeRunIndexedBySearch(t *testing.T) {
	defer func(n int) { freshLimit = n }(freshLimit)
	freshLimit = 10
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	storeCatchUp(t, w, 0, 25)
	w.Close()
	w, err = Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n := unindexed(t, w); n != 25 {
		t.Fatalf("after a large run: SearchUnindexed() = %d, want 25 (left to the search)", n)
	}
	items := 0
	rep := progress.Func(func(e progress.Event) {
		if e.Kind == progress.Item {
			items++
		}
	})
	if err := w.BuildSearchIndex(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if n := unindexed(t, w); n != 0 || items != 25 {
		t.Fatalf("after BuildSearchIndex: %d unindexed, %d progress items; want 0, 25", n, items)
	}
	for _, i := range []int{0, 9, 10, 24} {
		if got := searchCount(t, w, letters(i)); got != 1 {
			t.Errorf("%s finds %d, want 1", letters(i), got)
		}
	}
}

// BuildSearchIndex commits as it goes: cancelled after its first batch,
// it keeps that batch and the next build does only the rest, each message
// indexed once.
func TestBuildSearchIndexResumes(t *testing.T) {
	defer func(n int) { freshLimit = n }(freshLimit)
	freshLimit = 0
	ctx := context.Background()
	w, err := Open(ctx, t.TempDir(), &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	storeCatchUp(t, w, 0, 1200)
	cctx, cancel := context.WithCancel(ctx)
	rep := progress.Func(func(e progress.Event) {
		if e.Kind == progress.Item {
			cancel()
		}
	})
	if err := w.BuildSearchIndex(cctx, rep); err == nil {
		t.Fatal("BuildSearchIndex() = nil after cancel")
	}
	if n := unindexed(t, w); n != 1200-docBatch {
		t.Fatalf("after a cancelled build: %d unindexed, want %d (the first batch kept)", n, 1200-docBatch)
	}
	if err := w.BuildSearchIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var docs int
	w.indexer.db.QueryRow(`SELECT count(*) FROM search.search_docs`).Scan(&docs)
	if n := unindexed(t, w); n != 0 || docs != 1200 {
		t.Fatalf("after the second build: %d unindexed, %d docs; want 0, 1200", n, docs)
	}
	if got := searchCount(t, w, "catchup"); got != 1200 {
		t.Errorf("catchup finds %d, want 1200", got)
	}
	for _, i := range []int{0, 499, 500, 1199} {
		if got := searchCount(t, w, letters(i)); got != 1 {
			t.Errorf("%s finds %d, want 1", letters(i), got)
		}
	}
}

// TestKillDuringSearchBuild: a real SIGKILL in the middle of a batch of
// BuildSearchIndex. search.db stays a valid database holding the batches
// committed before, and the next build completes it, each message once.
func TestKillDuringSearchBuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	defer func(n int) { freshLimit = n }(freshLimit)
	freshLimit = 0
	w, err := Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	storeCatchUp(t, w, 0, 1200)
	w.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSearchBuildKilled$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAILKEEP_CRASH_ARCHIVE="+dir)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("indexer was not killed: %v\n%s", err, out)
	}
	w, err = Open(ctx, dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var check string
	w.indexer.db.QueryRow(`PRAGMA search.integrity_check`).Scan(&check)
	if check != "ok" {
		t.Fatalf("search.db after kill -9: integrity_check = %q", check)
	}
	if n := unindexed(t, w); n != 1200-docBatch {
		t.Fatalf("after kill -9 mid-batch: %d unindexed, want %d (the committed batch kept, the killed one not)", n, 1200-docBatch)
	}
	if err := w.BuildSearchIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var docs int
	w.indexer.db.QueryRow(`SELECT count(*) FROM search.search_docs`).Scan(&docs)
	if n := unindexed(t, w); n != 0 || docs != 1200 {
		t.Fatalf("after the next build: %d unindexed, %d docs; want 0, 1200", n, docs)
	}
	for _, i := range []int{0, 600, 1199} {
		if got := searchCount(t, w, letters(i)); got != 1 {
			t.Errorf("%s finds %d, want 1", letters(i), got)
		}
	}
}

// TestSearchBuildKilled is the process TestKillDuringSearchBuild kills:
// it builds the index and kills itself after 700 inserts (the second
// batch half written).
func TestSearchBuildKilled(t *testing.T) {
	dir := os.Getenv("MAILKEEP_CRASH_ARCHIVE")
	if dir == "" {
		t.Skip("run by TestKillDuringSearchBuild")
	}
	w, err := Open(context.Background(), dir, &Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	testHookDocInserted = func(n int) {
		if n == 700 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	w.BuildSearchIndex(context.Background(), nil)
	t.Fatal("not killed")
}
