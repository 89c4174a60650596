package schedule

import (
	"time"

	"github.com/robfig/cron/v3"
)

// starBit is robfig/cron's marker of a field written as "*" (it matters
// for day-of-month versus day-of-week, as in crontab(5)).
const starBit = 1 << 63

// Next returns the first run of sched strictly after t, or the zero time
// if there is none within five years. Cron schedules are matched against
// wall-clock time in their Location, with the daylight-saving rules of
// the package documentation; other schedules (@every) are sched.Next.
func Next(sched cron.Schedule, t time.Time) time.Time {
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok || spec.Second != 1<<0 {
		return sched.Next(t)
	}
	loc := spec.Location
	if loc == nil {
		loc = time.Local
	}
	lt := t.In(loc)
	y, m, d := lt.Date()
	for day := range 5*366 + 1 {
		date := time.Date(y, m, d+day, 12, 0, 0, 0, loc) // noon: never in a DST gap
		if spec.Month&(1<<uint(date.Month())) == 0 || !dayMatches(spec, date) {
			continue
		}
		dy, dm, dd := date.Date()
		for h := range 24 {
			if spec.Hour&(1<<uint(h)) == 0 {
				continue
			}
			for mi := range 60 {
				if spec.Minute&(1<<uint(mi)) == 0 {
					continue
				}
				if at := wallInstant(dy, dm, dd, h, mi, loc); at.After(t) {
					return at.In(t.Location())
				}
			}
		}
	}
	return time.Time{}
}

func dayMatches(s *cron.SpecSchedule, t time.Time) bool {
	dom := s.Dom&(1<<uint(t.Day())) != 0
	dow := s.Dow&(1<<uint(t.Weekday())) != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// wallInstant returns the instant the clocks in loc show the given wall
// time: its first occurrence when it happens twice, the end of the gap
// when it does not happen at all.
func wallInstant(y int, mo time.Month, d, h, mi int, loc *time.Location) time.Time {
	guess := time.Date(y, mo, d, h, mi, 0, 0, loc)
	wall := time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
	matches := func(u time.Time) bool {
		l := u.In(loc)
		ly, lm, ld := l.Date()
		return ly == y && lm == mo && ld == d && l.Hour() == h && l.Minute() == mi
	}
	// Candidates: the wall time minus each offset in force around it.
	var best time.Time
	for _, probe := range []time.Time{wall.Add(-30 * time.Hour), wall.Add(30 * time.Hour), guess} {
		_, off := probe.In(loc).Zone()
		u := wall.Add(-time.Duration(off) * time.Second)
		if matches(u) && (best.IsZero() || u.Before(best)) {
			best = u
		}
	}
	if !best.IsZero() {
		return best
	}
	// In a gap: the clocks jump at the start of the zone in force just
	// after it.
	_, offBefore := wall.Add(-30 * time.Hour).In(loc).Zone()
	after := wall.Add(-time.Duration(offBefore) * time.Second)
	if start, _ := after.In(loc).ZoneBounds(); !start.IsZero() && !start.After(after) {
		return start
	}
	return guess
}
