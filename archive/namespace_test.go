package archive

import (
	"context"
	"testing"
)

// TestNamespaces: recorded per account, replaced, visible to the writer
// before the commit and to a reader after it; "" for an account without.
func TestNamespaces(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	if v, err := r.Namespaces(ctx, "a"); v != "" || err != nil {
		t.Fatalf("Namespaces before any = %q, %v, want \"\", nil", v, err)
	}
	for _, v := range []string{"first", "second"} {
		if err := r.SetNamespaces(ctx, "a", v); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := r.Namespaces(ctx, "a"); v != "second" || err != nil {
		t.Fatalf("Namespaces (writer, uncommitted) = %q, %v, want \"second\"", v, err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if v, err := ro.Namespaces(ctx, "a"); v != "second" || err != nil {
		t.Errorf("Namespaces (reader) = %q, %v, want \"second\"", v, err)
	}
	if v, err := ro.Namespaces(ctx, "b"); v != "" || err != nil {
		t.Errorf("Namespaces of another account = %q, %v, want \"\"", v, err)
	}
}
