package archive

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// upgradeV1 is a stand-in until upgrade.go lands (the engineer "upgrade"
// deletes this file): it refuses version 1 archives.
func upgradeV1(ctx context.Context, db *sql.DB, report progress.Reporter) error {
	return errors.New("not available in this build")
}
