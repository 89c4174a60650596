package backup

import (
	"errors"
	"fmt"
	"io"

	"github.com/mailkeep/mailkeep/internal/mailfmt"
)

// importWithPath says where an error happened, unless it says so itself.
func importWithPath(path string, err error) error {
	var p *mailfmt.Problem
	if errors.As(err, &p) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// importReadErr words an error reading a message.
func importReadErr(err error) error {
	var p *mailfmt.Problem
	if errors.As(err, &p) {
		return err // says where already
	}
	return fmt.Errorf("read: %w", err)
}

// importSourceError marks an error reading the source, as opposed to one
// writing the archive.
type importSourceError struct{ err error }

func (e *importSourceError) Error() string { return e.err.Error() }
func (e *importSourceError) Unwrap() error { return e.err }

type importSourceReader struct{ r io.Reader }

func (s importSourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		var p *mailfmt.Problem
		if !errors.As(err, &p) {
			err = &importSourceError{err}
		}
	}
	return n, err
}

func importWhere(m *mailfmt.Message) string {
	if m.Line > 0 {
		return fmt.Sprintf("%s line %d", m.Path, m.Line)
	}
	return m.Path
}
