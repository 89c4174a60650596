package offsite

import (
	"encoding/json"
	"testing"
)

// FuzzManifest: a manifest comes from the store, outside data: any bytes
// give a manifest whose objects are valid keys and whose pieces cover
// each pack, or an error; never a panic.
func FuzzManifest(f *testing.F) {
	good := &Manifest{Format: formatName, Seq: 3, Index: Piece{Key: "index/" + sha64('a'), Length: 10},
		Packs: []Pack{{ID: 1, Name: "00000001.pack", Size: 30, Sealed: true, Pieces: []Piece{
			{Key: "data/" + sha64('b'), Offset: 0, Length: 20}, {Key: "data/" + sha64('c'), Offset: 20, Length: 10}}}}}
	data, _ := json.Marshal(good)
	f.Add(data, int64(3))
	f.Add([]byte(`{"format":"mailkeep-offsite 1","seq":1,"packs":[{"name":"../../etc/passwd","size":0}]}`), int64(1))
	f.Add([]byte(`{"format":"mailkeep-offsite 1","seq":1,"index":{"key":"../x"}}`), int64(1))
	f.Fuzz(func(t *testing.T, data []byte, seq int64) {
		m, err := parseManifest(data, seq)
		if err != nil {
			return
		}
		for _, o := range m.Objects() {
			if !validKey(o.Key) {
				t.Fatalf("parseManifest accepted key %q", o.Key)
			}
		}
		for _, p := range m.Packs {
			if !packName.MatchString(p.Name) || p.covered() != p.Size {
				t.Fatalf("parseManifest accepted pack %+v", p)
			}
		}
	})
}

func sha64(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
