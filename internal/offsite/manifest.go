package offsite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The remote layout, under the store's prefix:
//
//	data/<sha256>          a piece of a pack: bytes [offset, offset+length) of it, content-addressed
//	index/<sha256>         an index snapshot: zstd, then age when encryption is on
//	manifest/<seq>.json    what one push made consistent: the index and every piece of every pack
//
// Objects are never replaced. A manifest is written after every object it
// names, so the newest manifest always describes a complete archive;
// objects no manifest names are the remains of an interrupted push.
const (
	dataDir     = "data/"
	indexDir    = "index/"
	manifestDir = "manifest/"
	formatName  = "mailkeep-offsite 1"
)

// Manifest describes one consistent remote copy.
type Manifest struct {
	Format    string    `json:"format"`
	Seq       int64     `json:"seq"`
	Created   time.Time `json:"created"`
	Writer    string    `json:"writer"`    // the archive that pushed it (offsite.json)
	Encrypted bool      `json:"encrypted"` // the index is age-encrypted
	Index     Piece     `json:"index"`     // Offset is 0; Length the object's size
	Packs     []Pack    `json:"packs"`
}

// Pack is one pack file, as the sequence of pieces that make it up.
type Pack struct {
	ID     int64   `json:"id"`
	Name   string  `json:"name"`
	Size   int64   `json:"size"` // committed length the index names
	Sealed bool    `json:"sealed"`
	Pieces []Piece `json:"pieces"`
}

// Piece is one object.
type Piece struct {
	Key    string `json:"key"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
	MD5    string `json:"md5"`
}

// covered is how many of the pack's bytes the pieces hold.
func (p *Pack) covered() int64 {
	if len(p.Pieces) == 0 {
		return 0
	}
	last := p.Pieces[len(p.Pieces)-1]
	return last.Offset + last.Length
}

func manifestKey(seq int64) string { return fmt.Sprintf("%s%020d.json", manifestDir, seq) }

// Objects lists every object the manifest names.
func (m *Manifest) Objects() []Piece {
	out := []Piece{m.Index}
	for _, p := range m.Packs {
		out = append(out, p.Pieces...)
	}
	return out
}

func (m *Manifest) check() error {
	if m.Format != formatName {
		return fmt.Errorf("manifest %d: format %q, this mailkeep reads %q", m.Seq, m.Format, formatName)
	}
	for _, p := range m.Packs {
		var off int64
		for _, pc := range p.Pieces {
			if pc.Offset != off || pc.Length <= 0 {
				return fmt.Errorf("manifest %d: pack %s: pieces do not follow each other at offset %d", m.Seq, p.Name, off)
			}
			off += pc.Length
		}
		if off != p.Size {
			return fmt.Errorf("manifest %d: pack %s: pieces hold %d bytes, the pack is %d", m.Seq, p.Name, off, p.Size)
		}
	}
	return nil
}

// Latest reads the newest manifest; nil when the store holds none.
func Latest(ctx context.Context, st Store) (*Manifest, error) {
	objs, err := st.List(ctx, manifestDir)
	if err != nil {
		return nil, err
	}
	var seqs []int64
	for _, o := range objs {
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, manifestDir), ".json")
		if n, err := strconv.ParseInt(name, 10, 64); err == nil && n > 0 && strings.HasSuffix(o.Key, ".json") {
			seqs = append(seqs, n)
		}
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] > seqs[j] })
	rc, err := st.Get(ctx, manifestKey(seqs[0]))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", st, manifestKey(seqs[0]), err)
	}
	m, err := parseManifest(data, seqs[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", st, manifestKey(seqs[0]), err)
	}
	return m, nil
}

// parseManifest reads manifest seq, as downloaded: outside data.
func parseManifest(data []byte, seq int64) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m.Seq != seq {
		return nil, fmt.Errorf("it says it is manifest %d", m.Seq)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	for _, o := range m.Objects() {
		if !validKey(o.Key) || o.Length < 0 || o.Offset < 0 {
			return nil, fmt.Errorf("manifest %d names a bad object %q (offset %d, length %d)", m.Seq, o.Key, o.Offset, o.Length)
		}
	}
	for _, p := range m.Packs {
		if !packName.MatchString(p.Name) {
			return nil, fmt.Errorf("manifest %d names a bad pack %q", m.Seq, p.Name)
		}
	}
	return &m, nil
}

// A key is data/ or index/ and a SHA-256: nothing that could name a path
// outside the prefix, or a pack file outside data/ when pulled.
var (
	keyRE    = regexp.MustCompile(`^(data|index)/[0-9a-f]{64}$`)
	packName = regexp.MustCompile(`^[0-9]{8}\.pack$`)
)

func validKey(k string) bool { return keyRE.MatchString(k) }

func putManifest(ctx context.Context, st Store, m *Manifest) (int64, error) {
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return 0, err
	}
	return int64(len(data)), st.Put(ctx, manifestKey(m.Seq), bytes.NewReader(data), int64(len(data)))
}
