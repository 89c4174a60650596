package ops

import (
	"errors"
	"strings"
	"testing"
)

// TestHintForDamagedIndex: SQLite's errors on a damaged index.db point at
// verify and repair.
func TestHintForDamagedIndex(t *testing.T) {
	for _, msg := range []string{"index: database disk image is malformed (11)", "index /a/index.db: file is not a database (26)"} {
		if h := HintFor(errors.New(msg)); !strings.Contains(h, "mailkeep repair") {
			t.Errorf("HintFor(%q) = %q, want a hint naming repair", msg, h)
		}
	}
}
