// Package shard splits a list of names (accounts) between n workers so
// that every name belongs to exactly one worker, with no coordination:
// each worker computes the same assignment from the name alone.
//
//	s, _ := shard.Parse("2/8")   // worker 2 of 8 (0-based, Kubernetes' JOB_COMPLETION_INDEX)
//	for _, name := range names {
//	    if s.Has(name) { work(name) }
//	}
//
// The assignment is FNV-1a (32 bit) of the name's bytes, modulo n. It is
// part of mailkeep's contract: changing it would move accounts between
// workers, so it never changes.
package shard

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is worker Index of Count. The zero value (Count 0) means "no
// sharding": every name belongs to it.
type Shard struct {
	Index, Count int
}

// Parse reads "i/n" with 0 <= i < n. Both numbers are decimal.
func Parse(s string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT, like 0/4 (index counts from 0)", s)
	}
	idx, err1 := strconv.Atoi(strings.TrimSpace(i))
	cnt, err2 := strconv.Atoi(strings.TrimSpace(n))
	switch {
	case err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT with whole numbers, like 0/4", s)
	case cnt < 1:
		return Shard{}, fmt.Errorf("shard %q: count must be at least 1", s)
	case idx < 0 || idx >= cnt:
		return Shard{}, fmt.Errorf("shard %q: index must be from 0 to %d (it counts from 0)", s, cnt-1)
	}
	return Shard{Index: idx, Count: cnt}, nil
}

// Of returns the shard (0 <= result < n) that name belongs to; n < 1 is
// treated as 1.
func Of(name string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(n))
}

// Has reports whether name belongs to s. Every name belongs to the zero
// Shard.
func (s Shard) Has(name string) bool {
	if s.Count <= 1 {
		return true
	}
	return Of(name, s.Count) == s.Index
}

// Filter returns the names that belong to s, in their order.
func (s Shard) Filter(names []string) []string {
	var out []string
	for _, n := range names {
		if s.Has(n) {
			out = append(out, n)
		}
	}
	return out
}

// String returns "i/n", or "" for the zero Shard.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}
