package shard

import (
	"fmt"
	"testing"
)

// fnv1a is FNV-1a as the spec writes it (offset basis 2166136261, prime
// 16777619), independent of hash/fnv: it pins the assignment, which must
// never change between releases.
func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func TestOfMatchesSpec(t *testing.T) {
	for _, name := range []string{"", "work", "isp", "user0001@example.com", "Ünïcode", "a-very-long-account-name.with.dots+tags@example.org"} {
		for _, n := range []int{1, 2, 3, 7, 16, 1000} {
			if got, want := Of(name, n), int(fnv1a(name)%uint32(n)); got != want {
				t.Errorf("Of(%q, %d) = %d, want %d", name, n, got, want)
			}
		}
	}
}

func TestEveryNameExactlyOnce(t *testing.T) {
	var names []string
	for i := range 2000 {
		names = append(names, fmt.Sprintf("user%04d@example.com", i))
	}
	for _, n := range []int{1, 2, 3, 5, 8, 13, 64} {
		seen := map[string]int{}
		sizes := make([]int, n)
		for i := range n {
			s, err := Parse(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			part := s.Filter(names)
			sizes[i] = len(part)
			for _, name := range part {
				seen[name]++
			}
		}
		for _, name := range names {
			if seen[name] != 1 {
				t.Fatalf("n=%d: %s is in %d shards, want exactly 1", n, name, seen[name])
			}
		}
		// A hash, not a sort: no shard should be empty or hold most names.
		for i, sz := range sizes {
			if n <= 13 && (sz == 0 || sz > 2*len(names)/n) {
				t.Errorf("n=%d: shard %d holds %d of %d names: badly spread", n, i, sz, len(names))
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{in: "0/1", want: Shard{0, 1}},
		{in: "3/4", want: Shard{3, 4}},
		{in: " 2 / 10 ", want: Shard{2, 10}},
		{in: "4/4", wantErr: `shard "4/4": index must be from 0 to 3 (it counts from 0)`},
		{in: "-1/4", wantErr: `shard "-1/4": index must be from 0 to 3 (it counts from 0)`},
		{in: "0/0", wantErr: `shard "0/0": count must be at least 1`},
		{in: "1", wantErr: `shard "1": want INDEX/COUNT, like 0/4 (index counts from 0)`},
		{in: "a/b", wantErr: `shard "a/b": want INDEX/COUNT with whole numbers, like 0/4`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Parse(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
			}
			if got.String() != fmt.Sprintf("%d/%d", tc.want.Index, tc.want.Count) {
				t.Errorf("String() = %q", got.String())
			}
		})
	}
}

func TestZeroShardHasEverything(t *testing.T) {
	var s Shard
	if !s.Has("anything") || len(s.Filter([]string{"a", "b"})) != 2 || s.String() != "" {
		t.Fatal("zero Shard must hold every name")
	}
}
