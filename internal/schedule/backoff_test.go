package schedule

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestBackoff(t *testing.T) {
	last := time.Date(2026, 5, 1, 10, 0, 5, 0, time.UTC) // a run started just after 10:00
	hourly := sched(t, "0 * * * *", "")
	daily := sched(t, "0 3 * * *", "")
	weekly := sched(t, "@weekly", "")
	for _, tc := range []struct {
		name     string
		failures int
		sched    cron.Schedule
		jitter   time.Duration
		// the first scheduled run that may go, as an offset from 10:00
		firstAllowed time.Duration
	}{
		{"one failure: the next run goes", 1, hourly, 0, time.Hour},
		{"two: one run skipped", 2, hourly, 0, 2 * time.Hour},
		{"three: three skipped", 3, hourly, 0, 4 * time.Hour},
		{"five", 5, hourly, 0, 16 * time.Hour},
		{"capped at a day", 9, hourly, 0, 24 * time.Hour},
		{"jitter does not push it a run later", 2, hourly, 10 * time.Minute, 2 * time.Hour},
		{"daily jobs keep their daily run", 7, daily, 0, 17 * time.Hour},
		{"weekly jobs too", 7, weekly, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nb := Backoff(tc.sched, tc.jitter, tc.failures, last)
			base := last.Truncate(time.Hour)
			// Walk the schedule: the first run not before nb.
			run := Next(tc.sched, last)
			for !nb.IsZero() && run.Before(nb) {
				run = Next(tc.sched, run)
			}
			want := base.Add(tc.firstAllowed)
			if tc.firstAllowed == 0 {
				want = Next(tc.sched, last)
			}
			// A run jittered up to tc.jitter late is still allowed.
			if !run.Equal(want) {
				t.Errorf("Backoff(%d failures) = %v: first allowed run %v, want %v", tc.failures, nb, run, want)
			}
			if tc.jitter > 0 && !nb.IsZero() && run.Add(tc.jitter).Before(nb) {
				t.Errorf("a run jittered by %v would still be held back", tc.jitter)
			}
		})
	}
	if !Backoff(nil, 0, 5, last).IsZero() || !Backoff(hourly, 0, 5, time.Time{}).IsZero() {
		t.Error("Backoff without a schedule or a last run must hold nothing back")
	}
}
