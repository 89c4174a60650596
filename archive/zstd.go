package archive

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Large messages are compressed and decompressed as streams with a small
// window so memory stays flat however large the message is.
func newStreamEncoder(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(4<<20), zstd.WithEncoderCRC(true), zstd.WithZeroFrames(true))
}

type streamDecoder struct{ d *zstd.Decoder }

func newStreamDecoder(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return nil, err
	}
	return streamDecoder{d}, nil
}

func (s streamDecoder) Read(p []byte) (int, error) { return s.d.Read(p) }
func (s streamDecoder) Close() error               { s.d.Close(); return nil }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
