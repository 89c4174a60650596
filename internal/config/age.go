package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Age is how old mail must be, as written in the config: a whole number
// and a unit, or several of them ("1y6m"):
//
//	h hours, d days, w weeks, m MONTHS (not minutes), y years
//
// Months and years are calendar months and years: see Before.
type Age struct {
	years, months, weeks, days, hours int
}

const ageUnits = `h, d, w, m (months) or y, as in "30d"`

// maxAgePart bounds each number so that date arithmetic cannot overflow.
const maxAgePart = 100000

// ParseAge parses an age such as "36h", "90d", "2w", "18m", "2y" or "1y6m".
func ParseAge(s string) (Age, error) {
	var a Age
	rest := strings.TrimSpace(s)
	if rest == "" {
		return a, fmt.Errorf("empty age (want %s)", ageUnits)
	}
	seen := map[string]bool{}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return Age{}, fmt.Errorf("age %s: want a whole number and a unit: %s", quote(s), ageUnits)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > maxAgePart {
			return Age{}, fmt.Errorf("age %s: number too large", quote(s))
		}
		j := i
		for j < len(rest) && (rest[j]|0x20 >= 'a' && rest[j]|0x20 <= 'z') {
			j++
		}
		unit := rest[i:j]
		switch {
		case i == len(rest):
			return Age{}, fmt.Errorf("age %s: no unit (want %s)", quote(s), ageUnits)
		case rest[i] == ' ' || rest[i] == '\t':
			return Age{}, fmt.Errorf("age %s: write the number and the unit together: %s", quote(s), ageUnits)
		case rest[i] == '.' || rest[i] == ',':
			return Age{}, fmt.Errorf("age %s: want whole numbers (\"36h\", not \"1.5d\")", quote(s))
		case unit == "":
			_, size := utf8.DecodeRuneInString(rest[i:])
			unit = rest[i : i+size]
		case seen[unit]:
			return Age{}, fmt.Errorf("age %s: unit %s given twice", quote(s), quote(unit))
		}
		seen[unit] = true
		switch unit {
		case "y":
			a.years = n
		case "m":
			a.months = n
		case "w":
			a.weeks = n
		case "d":
			a.days = n
		case "h":
			a.hours = n
		default:
			return Age{}, fmt.Errorf("age %s: unknown unit %s (want %s)", quote(s), quote(unit), ageUnits)
		}
		rest = rest[j:]
	}
	return a, nil
}

// MustParseAge is ParseAge for constants in code and tests; it panics on error.
func MustParseAge(s string) Age {
	a, err := ParseAge(s)
	if err != nil {
		panic(err)
	}
	return a
}

// IsZero reports whether the age is zero (not set).
func (a Age) IsZero() bool { return a == Age{} }

// String returns the age in the form ParseAge reads, "0d" for zero.
func (a Age) String() string {
	if a.IsZero() {
		return "0d"
	}
	var b strings.Builder
	for _, p := range []struct {
		n    int
		unit string
	}{{a.years, "y"}, {a.months, "m"}, {a.weeks, "w"}, {a.days, "d"}, {a.hours, "h"}} {
		if p.n != 0 {
			b.WriteString(strconv.Itoa(p.n) + p.unit)
		}
	}
	return b.String()
}

// MarshalText writes the age as String does.
func (a Age) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads an age as ParseAge does.
func (a *Age) UnmarshalText(b []byte) error {
	v, err := ParseAge(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Before returns the moment the age reaches back to from now: mail
// dated before it is older than the age. Years and months go back on the
// calendar, keeping the day of the month where it exists and otherwise
// using the last day of the month (31 March minus 1m is 28 or 29
// February; 29 February minus 1y is 28 February). Weeks and days go back
// whole calendar days (wall-clock time stays the same across a DST
// change); hours are exact.
func (a Age) Before(now time.Time) time.Time {
	t := addMonths(now, -(a.years*12 + a.months))
	if days := a.weeks*7 + a.days; days != 0 {
		t = t.AddDate(0, 0, -days)
	}
	return t.Add(-time.Duration(a.hours) * time.Hour)
}

// addMonths moves t by n calendar months, clamping the day to the length
// of the target month instead of overflowing into the next one as
// time.AddDate does.
func addMonths(t time.Time, n int) time.Time {
	if n == 0 {
		return t
	}
	y, m, d := t.Date()
	total := int(m) - 1 + n
	y += total / 12
	total %= 12
	if total < 0 {
		total += 12
		y--
	}
	month := time.Month(total + 1)
	if last := daysIn(y, month); d > last {
		d = last
	}
	hh, mm, ss := t.Clock()
	return time.Date(y, month, d, hh, mm, ss, t.Nanosecond(), t.Location())
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
