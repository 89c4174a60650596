package restore

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/mailfmt"
)

// exportLinesInline: messages up to this size are converted in memory;
// larger ones are read twice from the archive (once to see whether their
// line ends can be converted, once to convert them, streaming).
const exportLinesInline = 8 << 20

// exportBody opens a stored message in the line ends asked for
// (mailfmt.LineEndings: only a conversion that import can undo is made).
// It returns the body, its size once converted, and what to close.
func exportBody(ctx context.Context, repo *archive.Repo, h archive.Hash, lines mailfmt.LineEndings) (io.Reader, int64, func(), error) {
	rc, size, err := repo.OpenMessage(ctx, h)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read archive: %w", err)
	}
	closeRC := func() { rc.Close() }
	body := io.Reader(&ctxReader{ctx: ctx, r: rc})
	if lines == mailfmt.LinesExact {
		return body, size, closeRC, nil
	}
	if size <= exportLinesInline {
		defer rc.Close()
		raw, err := io.ReadAll(body)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("read archive: %w", err)
		}
		if int64(len(raw)) != size {
			return nil, 0, nil, fmt.Errorf("read archive: message is %d bytes, expected %d", len(raw), size)
		}
		raw, _ = mailfmt.ConvertLineEndings(raw, lines)
		return bytes.NewReader(raw), int64(len(raw)), func() {}, nil
	}
	conv, n, err := mailfmt.ScanLineEndings(body, lines)
	rc.Close()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read archive: %w", err)
	}
	if rc, size, err = repo.OpenMessage(ctx, h); err != nil {
		return nil, 0, nil, fmt.Errorf("read archive: %w", err)
	}
	body = &ctxReader{ctx: ctx, r: rc}
	if !conv {
		return body, size, func() { rc.Close() }, nil
	}
	return mailfmt.NewLineConverter(body, lines), n, func() { rc.Close() }, nil
}
