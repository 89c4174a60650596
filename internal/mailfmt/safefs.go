package mailfmt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Writing under an export directory that someone else may have prepared:
// no path mailkeep writes through is a symbolic link (a link planted as
// "INBOX" or "cur" would take the export into a live mailbox or /etc),
// files are created with O_EXCL|O_NOFOLLOW under temporary names and
// renamed, and everything is 0600 in 0700 directories.

// ErrSymlink is wrapped by the error of a write that met a symbolic link
// inside the export directory.
var ErrSymlink = errors.New("is a symbolic link; mailkeep does not write through links inside the output directory")

// mkdirUnder creates root/rel and every directory between (0700),
// refusing any that is a symbolic link or not a directory. root itself
// (the --out the user gave) may be a link.
func mkdirUnder(root, rel string) (string, error) {
	p := root
	if rel == "" || rel == "." {
		return p, nil
	}
	for _, c := range strings.Split(filepath.Clean(rel), string(filepath.Separator)) {
		if c == "" || c == "." || c == ".." {
			return "", fmt.Errorf("%s: unsafe path component %q", filepath.Join(root, rel), c)
		}
		p = filepath.Join(p, c)
		if err := mkdirOne(p); err != nil {
			return "", err
		}
	}
	return p, nil
}

func mkdirOne(p string) error {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.Mkdir(p, 0o700); err == nil || !errors.Is(err, os.ErrExist) {
			return err
		}
		st, err = os.Lstat(p) // made at the same moment by another worker
	}
	switch {
	case err != nil:
		return err
	case st.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s %w", p, ErrSymlink)
	case !st.IsDir():
		return fmt.Errorf("%s: exists and is not a directory", p)
	}
	return nil
}

// createExcl creates a new file, 0600, failing if anything (a link
// included) is in the way.
func createExcl(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
}

// openNoFollow opens a file for reading unless it is a symbolic link
// (the error then wraps ErrLink).
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if err != nil && errors.Is(err, syscall.ELOOP) {
		return nil, &os.PathError{Op: "open", Path: path, Err: ErrLink}
	}
	return f, err
}

// replaceFile writes data to path through a temporary file beside it
// (created exclusively, synced, renamed): a link at path is replaced,
// never followed.
func replaceFile(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".mailkeep-tmp")
	os.Remove(tmp)
	f, err := createExcl(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
