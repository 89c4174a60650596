package schedule

import (
	"math/rand/v2"
	"testing"
	"time"
	_ "time/tzdata" // the DST tests must not depend on the machine's zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/mailkeep/mailkeep/internal/config"
)

func mustSchedule(t *testing.T, spec string, loc *time.Location) cron.Schedule {
	t.Helper()
	s, err := config.ParseSchedule(spec, loc)
	if err != nil {
		t.Fatalf("ParseSchedule(%q): %v", spec, err)
	}
	return s
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Where no clock changes, Next must agree with robfig/cron's own.
func TestNextAgreesWithCronWithoutDST(t *testing.T) {
	specs := []string{"0 3 * * *", "*/15 * * * *", "5 4 * * SUN", "0 0 1 * *", "0 12 13 * FRI", "30 6 * * 1-5",
		"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "0 0 29 2 *", "7,37 */3 1-10 JAN,JUL *"}
	r := rand.New(rand.NewPCG(1, 2))
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("X", 5*3600+1800), mustLoc(t, "Asia/Tokyo")} {
		for _, spec := range specs {
			cs := mustSchedule(t, spec, loc)
			for range 200 {
				at := time.Unix(1.6e9+r.Int64N(3e8), r.Int64N(1e9))
				got := Next(cs, at)
				want := cs.Next(at)
				if !got.Equal(want) {
					t.Fatalf("%s in %s: Next(%v) = %v, cron says %v", spec, loc, at, got, want)
				}
			}
		}
	}
}

func TestNextDST(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	newYork := mustLoc(t, "America/New_York")
	utc := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, time.UTC) }
	// 2026: Europe switches at 01:00 UTC on March 29 (02:00 CET -> 03:00
	// CEST) and October 25 (03:00 CEST -> 02:00 CET); New York at 07:00
	// UTC on March 8 (02:00 EST -> 03:00 EDT).
	for _, tc := range []struct {
		name string
		spec string
		loc  *time.Location
		from time.Time
		want []time.Time
	}{
		{"spring gap runs when the clocks jump", "30 2 * * *", berlin, utc(2026, 3, 27, 12, 0),
			[]time.Time{utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)}},
		{"several times in the gap run once", "*/20 2 * * *", berlin, utc(2026, 3, 28, 12, 0),
			[]time.Time{utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 0), utc(2026, 3, 30, 0, 20)}},
		{"hourly over the spring gap", "0 * * * *", berlin, utc(2026, 3, 28, 23, 30),
			[]time.Time{utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0)}},
		{"autumn repeat runs once, first time", "30 2 * * *", berlin, utc(2026, 10, 24, 12, 0),
			[]time.Time{utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)}},
		{"hourly over the autumn repeat", "0 * * * *", berlin, utc(2026, 10, 24, 22, 30),
			[]time.Time{utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 2, 0), utc(2026, 10, 25, 3, 0)}},
		{"daily at 3 keeps local time across the change", "0 3 * * *", berlin, utc(2026, 3, 28, 12, 0),
			[]time.Time{utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 1, 0)}},
		{"New York spring gap", "30 2 * * *", newYork, utc(2026, 3, 7, 6, 0),
			[]time.Time{utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)}},
		{"weekly on the change day", "15 2 * * SUN", berlin, utc(2026, 3, 22, 12, 0),
			[]time.Time{utc(2026, 3, 29, 1, 0), utc(2026, 4, 5, 0, 15)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := mustSchedule(t, tc.spec, tc.loc)
			at := tc.from
			for i, want := range tc.want {
				got := Next(cs, at)
				if !got.Equal(want) {
					t.Fatalf("run %d: Next(%v) = %v (%v), want %v (%v)", i, at.UTC(), got.UTC(), got.In(tc.loc), want, want.In(tc.loc))
				}
				at = got
			}
		})
	}
}

// robfig/cron alone runs an autumn-repeated wall time twice; Next must not.
func TestNextNeverRunsOneWallTimeTwice(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	cs := mustSchedule(t, "30 2 * * *", berlin)
	first := time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)
	if cronNext := cs.Next(first); cronNext.Equal(time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)) {
		t.Logf("robfig/cron repeats 02:30 at %v; Next must not", cronNext.In(berlin))
	}
	seen := map[string]bool{}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, berlin)
	for range 400 {
		at = Next(cs, at)
		key := at.In(berlin).Format("2006-01-02 15:04")
		if seen[key] {
			t.Fatalf("wall time %s ran twice", key)
		}
		seen[key] = true
	}
	if len(seen) != 400 {
		t.Fatalf("got %d distinct runs", len(seen))
	}
}

func TestNextEvery(t *testing.T) {
	s, err := config.ParseSchedule("@every 90m", nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 29, 0, 30, 0, 0, mustLoc(t, "Europe/Berlin"))
	if got := Next(s, at); got.Sub(at) != 90*time.Minute {
		t.Errorf("@every 90m: Next(%v) = %v, want 90 minutes later whatever the zone", at, got)
	}
}

func TestNextNever(t *testing.T) {
	cs := mustSchedule(t, "0 0 30 2 *", time.UTC) // February 30th
	if got := Next(cs, time.Now()); !got.IsZero() {
		t.Errorf("Next of Feb 30 = %v, want the zero time", got)
	}
}
