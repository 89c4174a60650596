package schedule

import (
	"time"

	"github.com/robfig/cron/v3"
)

// MaxBackoff is the longest back-off: a failing account is still tried
// once a day (or once per interval, for schedules rarer than daily).
const MaxBackoff = 24 * time.Hour

// Backoff returns the time before which an account that failed its last
// `failures` runs in a row, the last of them started at lastStart,
// should not be tried again on sched (see the package documentation).
// It returns the zero time when nothing holds it back (fewer than two
// failures, no schedule).
//
// The result is rounded down by half an interval plus the jitter, so it
// lands between two scheduled runs and the comparison with a run's
// (jittered) start time is not a coin toss.
func Backoff(sched cron.Schedule, jitter time.Duration, failures int, lastStart time.Time) time.Time {
	if sched == nil || failures < 2 || lastStart.IsZero() {
		return time.Time{}
	}
	n1 := Next(sched, lastStart)
	n2 := Next(sched, n1)
	if n1.IsZero() || n2.IsZero() {
		return time.Time{}
	}
	interval := n2.Sub(n1)
	if interval <= 0 {
		return time.Time{}
	}
	limit := max(interval, MaxBackoff)
	delay := interval
	for i := 1; i < failures && delay < limit; i++ {
		delay *= 2
	}
	delay = min(delay, limit)
	if delay <= interval {
		return time.Time{}
	}
	return lastStart.Add(delay - interval/2 - jitter)
}
