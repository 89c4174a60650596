package config

import (
	"testing"
	"time"
)

func TestParseAge(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"36h", "36h", ""},
		{"90d", "90d", ""},
		{"2w", "2w", ""},
		{"18m", "18m", ""},
		{"2y", "2y", ""},
		{"1y6m", "1y6m", ""},
		{"6m1y", "1y6m", ""},
		{" 30d ", "30d", ""},
		{"0d", "0d", ""},
		{"", "", `empty age (want h, d, w, m (months) or y, as in "30d")`},
		{"30", "", `age "30": no unit (want h, d, w, m (months) or y, as in "30d")`},
		{"d", "", `age "d": want a whole number and a unit: h, d, w, m (months) or y, as in "30d"`},
		{"-3d", "", `age "-3d": want a whole number and a unit: h, d, w, m (months) or y, as in "30d"`},
		{"1.5d", "", `age "1.5d": want whole numbers ("36h", not "1.5d")`},
		{"10min", "", `age "10min": unknown unit "min" (want h, d, w, m (months) or y, as in "30d")`},
		{"3M", "", `age "3M": unknown unit "M" (want h, d, w, m (months) or y, as in "30d")`},
		{"2 y", "", `age "2 y": write the number and the unit together: h, d, w, m (months) or y, as in "30d"`},
		{"1d1d", "", `age "1d1d": unit "d" given twice`},
		{"5s", "", `age "5s": unknown unit "s" (want h, d, w, m (months) or y, as in "30d")`},
		{"3dé", "", `age "3dé": want a whole number and a unit: h, d, w, m (months) or y, as in "30d"`},
		{"3é", "", `age "3é": unknown unit "é" (want h, d, w, m (months) or y, as in "30d")`},
		{"999999999999999999999d", "", `age "999999999999999999999d": number too large`},
		{"100001y", "", `age "100001y": number too large`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := ParseAge(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("ParseAge(%q) = %v, %v; want error %q", tt.in, a, err, tt.err)
				}
				return
			}
			if err != nil || a.String() != tt.want {
				t.Errorf("ParseAge(%q) = %v, %v; want %s", tt.in, a, err, tt.want)
			}
		})
	}
	if !(Age{}).IsZero() || !MustParseAge("0h").IsZero() || MustParseAge("1h").IsZero() {
		t.Error("IsZero() wrong")
	}
}

func TestAgeBefore(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 30, 0, 0, time.UTC) }
	tests := []struct {
		age  string
		now  time.Time
		want time.Time
	}{
		{"1m", day(2024, time.March, 31), day(2024, time.February, 29)},
		{"1m", day(2023, time.March, 31), day(2023, time.February, 28)},
		{"1m", day(2024, time.January, 31), day(2023, time.December, 31)},
		{"1m", day(2024, time.March, 15), day(2024, time.February, 15)},
		{"3m", day(2024, time.May, 31), day(2024, time.February, 29)},
		{"18m", day(2024, time.May, 31), day(2022, time.November, 30)},
		{"12m", day(2024, time.February, 29), day(2023, time.February, 28)},
		{"1y", day(2024, time.February, 29), day(2023, time.February, 28)},
		{"4y", day(2024, time.February, 29), day(2020, time.February, 29)},
		{"2y", day(2024, time.June, 1), day(2022, time.June, 1)},
		{"1y1m", day(2024, time.March, 31), day(2023, time.February, 28)},
		{"1m1d", day(2024, time.March, 31), day(2024, time.February, 28)},
		{"2w", day(2024, time.March, 10), day(2024, time.February, 25)},
		{"90d", day(2024, time.March, 31), day(2024, time.January, 1)},
		{"36h", day(2024, time.March, 3), day(2024, time.March, 2).Add(-12 * time.Hour)},
		{"0d", day(2024, time.March, 3), day(2024, time.March, 3)},
		// A day is a calendar day: across the switch to summer time the
		// wall clock stays at 12:00 (23 real hours), while 24h is exact.
		{"1d", time.Date(2024, time.March, 31, 12, 0, 0, 0, berlin), time.Date(2024, time.March, 30, 12, 0, 0, 0, berlin)},
		{"24h", time.Date(2024, time.March, 31, 12, 0, 0, 0, berlin), time.Date(2024, time.March, 30, 11, 0, 0, 0, berlin)},
		{"1m", time.Date(2024, time.March, 31, 12, 0, 0, 0, berlin), time.Date(2024, time.February, 29, 12, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.age+" before "+tt.now.String(), func(t *testing.T) {
			if got := MustParseAge(tt.age).Before(tt.now); !got.Equal(tt.want) {
				t.Errorf("ParseAge(%q).Before(%v) = %v, want %v", tt.age, tt.now, got, tt.want)
			}
		})
	}
}

func TestAgeText(t *testing.T) {
	var a Age
	if err := a.UnmarshalText([]byte("1y2m3w4d5h")); err != nil {
		t.Fatal(err)
	}
	b, _ := a.MarshalText()
	if string(b) != "1y2m3w4d5h" {
		t.Errorf("MarshalText() = %s, want 1y2m3w4d5h", b)
	}
	if err := a.UnmarshalText([]byte("x")); err == nil {
		t.Error("UnmarshalText(x) = nil, want error")
	}
}
