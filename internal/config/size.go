package config

import (
	"fmt"
	"math/big"
	"strings"
)

// sizeUnits maps a unit, in lower case, to bytes. k, M, G and T are
// decimal, as providers state their limits ("2.5 GB per day"); KiB, MiB,
// GiB and TiB are binary.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20,
	"gi": 1 << 30, "gib": 1 << 30, "ti": 1 << 40, "tib": 1 << 40,
}

// ParseSize parses a byte count: a whole number of bytes ("1048576") or
// a number with a unit ("500k", "10MB", "2.5GB", "1GiB"). Units are not
// case-sensitive; a space between number and unit is allowed. A fraction
// of a byte is rounded down.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("size %s: want a number of bytes or a number and a unit (k, MB, GB, GiB, ...)", quote(s))
	}
	if whole, frac, _ := strings.Cut(num, "."); whole == "" || strings.Contains(frac, ".") || len(num) > 30 {
		return 0, fmt.Errorf("size %s: bad number", quote(s))
	}
	// Exact arithmetic: 2.5GB is 2500000000 bytes and 1.5KiB is 1536,
	// not whatever float64 makes of them.
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("size %s: bad number", quote(s))
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 0, fmt.Errorf("size %s: too large", quote(s))
	}
	n := q.Int64()
	return n, nil
}
