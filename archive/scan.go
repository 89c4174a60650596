package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Reading packs without the index: each stored message is a skippable
// frame naming its hash followed by one zstd frame (FORMAT.md). The
// scanner walks those pairs, checks each one (decompressed, hashed), and
// steps over bytes that are not a message (damage) to the next frame
// header. It is what re-indexes an interrupted writer's tail and what
// repair rebuilds the index from.

const zstdMagic = 0xFD2FB528

// frameHeader is the 8 bytes that open the skippable frame before every
// message: magic and length 32, little-endian.
var frameHeader = func() []byte {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], skipMagic)
	binary.LittleEndian.PutUint32(b[4:], 32)
	return b[:]
}()

// scanned is one message found in a pack.
type scanned struct {
	Hash   Hash
	Start  int64 // of its skippable frame
	Offset int64 // of its zstd frame
	Length int64 // of its zstd frame
	Size   int64 // decompressed; -1 when Unchecked
	Header HeaderInfo
	// Unchecked: an encrypted message read without the identity; its
	// frames are whole, its content could not be checked.
	Unchecked bool
}

// End is the offset just past the message's zstd frame.
func (s scanned) End() int64 { return s.Offset + s.Length }

// gap is a range of a pack that holds no readable message.
type gap struct {
	Start, End int64
	Why        string
}

// scanResult is what a pack holds from the offset scanned from.
type scanResult struct {
	Messages []scanned
	Gaps     []gap
	// Incomplete is the offset from which the pack ends in bytes that are
	// not a whole message (an interrupted write, a truncated file); -1
	// when the pack ends on a message boundary.
	Incomplete int64
	Size       int64 // of the file
}

// scanPack reads the pack at path from offset from to its end.
func (r *Repo) scanPack(path string, from int64) (*scanResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	res := &scanResult{Incomplete: -1, Size: st.Size()}
	off := from
	for off < res.Size {
		m, why := r.readScanned(f, off, res.Size)
		if why == "" {
			res.Messages = append(res.Messages, m)
			off = m.End()
			continue
		}
		next, err := nextFrameHeader(f, off+1, res.Size)
		if err != nil {
			return nil, err
		}
		if next < 0 {
			// Nothing readable follows: the pack ends in a partial write
			// or in damage that reaches its end.
			res.Incomplete = off
			res.Gaps = append(res.Gaps, gap{Start: off, End: res.Size, Why: why})
			break
		}
		res.Gaps = append(res.Gaps, gap{Start: off, End: next, Why: why})
		off = next
	}
	return res, nil
}

// readScanned reads and checks the message whose skippable frame starts
// at off; why says what is wrong when it is not a whole, intact message.
func (r *Repo) readScanned(f *os.File, off, size int64) (scanned, string) {
	m := scanned{Start: off, Offset: off + skipLen}
	var hdr [skipLen]byte
	if size-off < skipLen {
		return m, "partial frame header"
	}
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return m, "read: " + err.Error()
	}
	if !bytes.Equal(hdr[:8], frameHeader) {
		return m, "no frame header"
	}
	copy(m.Hash[:], hdr[8:])
	if sealed, why := r.scanSealed(f, &m, size); sealed {
		return m, why
	}
	n, err := zstdFrameLen(io.NewSectionReader(f, m.Offset, size-m.Offset))
	if err != nil {
		return m, "zstd frame: " + err.Error()
	}
	m.Length = n
	return m, r.checkScanned(&m, f, nil)
}

// scanSealed reads an encrypted message (seal.go): its frame length is in
// its header. Without the identity its content cannot be checked: Size
// is then -1 and the message is not indexed (Unchecked).
func (r *Repo) scanSealed(f *os.File, m *scanned, size int64) (bool, string) {
	var hdr [sealHdr]byte
	if size-m.Offset < sealHdr {
		return false, ""
	}
	if _, err := f.ReadAt(hdr[:], m.Offset); err != nil || binary.LittleEndian.Uint32(hdr[:]) != sealMagic {
		return false, ""
	}
	m.Length = sealHdr + int64(binary.LittleEndian.Uint32(hdr[4:]))
	if m.Offset+m.Length > size {
		return true, "encrypted frame: " + errShortFrame.Error()
	}
	b := Blob{Hash: m.Hash, Offset: m.Offset, Length: m.Length}
	src, err := r.openSealed(b, io.NewSectionReader(f, m.Offset+sealHdr, m.Length-sealHdr))
	if errors.Is(err, ErrNoIdentity) {
		if err := checkAgeHeader(io.NewSectionReader(f, m.Offset+sealHdr, m.Length-sealHdr)); err != nil {
			return true, "encrypted frame: " + err.Error()
		}
		m.Size, m.Unchecked = -1, true
		return true, ""
	}
	if err != nil {
		return true, err.Error()
	}
	return true, r.checkScanned(m, f, src)
}

// checkScanned decompresses the message (from its zstd frame in f, or from
// src) and checks its hash; it sets Size and Header.
func (r *Repo) checkScanned(m *scanned, f *os.File, zsrc io.Reader) string {
	var src io.Reader
	if zsrc != nil {
		rc, err := newStreamDecoder(zsrc)
		if err != nil {
			return "decompress: " + err.Error()
		}
		defer rc.Close()
		src = rc
	} else if m.Length <= bigMessage {
		comp := make([]byte, m.Length)
		if _, err := f.ReadAt(comp, m.Offset); err != nil {
			return "read: " + err.Error()
		}
		raw, err := r.dec.DecodeAll(comp, nil)
		if err != nil {
			return "decompress: " + err.Error()
		}
		src = bytes.NewReader(raw)
	} else {
		rc, err := newStreamDecoder(io.NewSectionReader(f, m.Offset, m.Length))
		if err != nil {
			return "decompress: " + err.Error()
		}
		defer rc.Close()
		src = rc
	}
	h := sha256.New()
	head := &headCapture{max: 64 << 10}
	sz, err := io.Copy(io.MultiWriter(h, head), src)
	if err != nil {
		return "decompress: " + err.Error()
	}
	if Hash(h.Sum(nil)) != m.Hash {
		return "content does not match the hash before it"
	}
	m.Size = sz
	m.Header = ParseHeader(head.buf)
	return ""
}

// nextFrameHeader finds the next message frame header at or after off;
// -1 when there is none.
func nextFrameHeader(f *os.File, off, size int64) (int64, error) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+len(frameHeader))
	for off < size {
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, err
		}
		if i := bytes.Index(buf[:n], frameHeader); i >= 0 {
			return off + int64(i), nil
		}
		if n < len(buf) {
			break
		}
		off += chunk
	}
	return -1, nil
}

var errShortFrame = errors.New("frame ends past the end of the file")

// zstdFrameLen returns the length of the zstd frame at the start of r by
// walking its header and block headers (RFC 8878 3.1.1), without
// decompressing it.
func zstdFrameLen(r *io.SectionReader) (int64, error) {
	var b [18]byte
	read := func(off int64, p []byte) error {
		n, err := r.ReadAt(p, off)
		if n == len(p) {
			return nil
		}
		if err == nil || errors.Is(err, io.EOF) {
			return errShortFrame
		}
		return err
	}
	if err := read(0, b[:5]); err != nil {
		return 0, err
	}
	if binary.LittleEndian.Uint32(b[0:]) != zstdMagic {
		return 0, errors.New("no zstd magic")
	}
	fhd := b[4]
	if fhd&0x08 != 0 {
		return 0, errors.New("reserved bit set")
	}
	single := fhd&0x20 != 0
	fcsSize := [4]int64{0, 2, 4, 8}[fhd>>6]
	if fhd>>6 == 0 && single {
		fcsSize = 1
	}
	dictSize := [4]int64{0, 1, 2, 4}[fhd&3]
	off := int64(5) + dictSize + fcsSize
	if !single {
		off++ // window descriptor
	}
	for {
		if err := read(off, b[:3]); err != nil {
			return 0, err
		}
		bh := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		last := bh&1 != 0
		size := int64(bh >> 3)
		switch (bh >> 1) & 3 {
		case 0, 2: // raw, compressed
		case 1: // RLE: one byte stands for size bytes
			size = 1
		default:
			return 0, errors.New("reserved block type")
		}
		if size > 128<<10 {
			return 0, fmt.Errorf("block of %d bytes", size)
		}
		off += 3 + size
		if last {
			break
		}
	}
	if fhd&0x04 != 0 {
		off += 4 // content checksum
	}
	if off > r.Size() {
		return 0, errShortFrame
	}
	return off, nil
}
