package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailkeep/mailkeep/internal/progress"
)

// Every file of an archive is 0600 and every directory 0700: the archive
// holds mail. A writer tightens what it finds looser (an archive directory
// made by hand, an index.db created by an older mailkeep with the umask's
// mode) and says so once.

var archiveDirs = []string{"", "data", "tmp", "lost+found"}

// fixModes tightens the modes of the archive's directories and of the
// files directly in them. Symbolic links are left alone.
func (r *Repo) fixModes() {
	var fixed []string
	fix := func(path string, want os.FileMode) {
		st, err := os.Lstat(path)
		if err != nil || st.Mode()&os.ModeSymlink != 0 {
			return
		}
		if st.Mode().Perm()&^want == 0 {
			return
		}
		if err := os.Chmod(path, want); err != nil {
			r.warn(fmt.Sprintf("cannot make %s private (mode %#o): %v", path, st.Mode().Perm(), err))
			return
		}
		rel, _ := filepath.Rel(r.dir, path)
		fixed = append(fixed, fmt.Sprintf("%s was %#o", rel, st.Mode().Perm()))
	}
	for _, d := range archiveDirs {
		dir := filepath.Join(r.dir, d)
		fix(dir, 0o700)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			switch {
			case e.Type().IsRegular():
				fix(filepath.Join(dir, e.Name()), 0o600)
			case e.IsDir() && d == "lost+found":
				fix(filepath.Join(dir, e.Name()), 0o700)
			}
		}
	}
	if len(fixed) > 0 {
		r.warn(fmt.Sprintf("archive %s was readable by others; made its files 0600 and directories 0700 (%s)", r.dir, strings.Join(fixed, ", ")))
	}
}

// warn reports something the user should know about the archive.
func (r *Repo) warn(text string) {
	progress.Send(r.report, progress.Event{Kind: progress.Warning, Text: text})
}
