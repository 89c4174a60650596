package archive

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestRunAccounts: the accounts with runs of a kind, by name, each once:
// the same as reading every run (accounts with only other kinds left out,
// names that sort oddly, no runs at all).
func TestRunAccounts(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	if got, err := r.RunAccounts(ctx, "backup"); err != nil || len(got) != 0 {
		t.Fatalf("RunAccounts() without runs = %q, %v", got, err)
	}
	kinds := []string{"backup", "cleanup", "restore"}
	names := []string{"zed", "Alice", "alice", "bob", "böb", "", "carol carol", "dave"}
	start := time.Unix(1_700_000_000, 0)
	for i := range 600 {
		name, kind := names[i%len(names)], kinds[(i/len(names))%len(kinds)]
		if name == "dave" {
			kind = "restore" // never backed up
		}
		run := Run{Account: name, Job: fmt.Sprint("j", i%3), Kind: kind, Started: start, Finished: start.Add(time.Duration(i) * time.Second), OK: i%5 != 0}
		if err := r.RecordRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, kind := range append(kinds, "migrate") {
		rows, err := r.rdb.Query(`SELECT DISTINCT account FROM runs WHERE kind=? ORDER BY account`, kind)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for rows.Next() {
			var a string
			rows.Scan(&a)
			want = append(want, a)
		}
		rows.Close()
		got, err := r.RunAccounts(ctx, kind)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("RunAccounts(%s) = %q, %v; want %q", kind, got, err, want)
		}
	}
}
