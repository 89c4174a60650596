package schedule

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// harness runs a Scheduler on a Fake clock and collects its events.
type harness struct {
	t      *testing.T
	clock  *Fake
	s      *Scheduler
	events chan Event
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, start time.Time, jitter func(time.Duration) time.Duration) *harness {
	h := &harness{t: t, clock: NewFake(start), events: make(chan Event, 1000), done: make(chan error, 1)}
	h.s = New(&Options{Clock: h.clock, Jitter: jitter, MaxSleep: 1000 * time.Hour, OnEvent: func(e Event) { h.events <- e }})
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.s.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			h.t.Error("scheduler did not stop")
		}
	})
}

// next waits (in real time, briefly) for the next event of one of kinds.
func (h *harness) next(kinds ...EventKind) Event {
	h.t.Helper()
	for {
		select {
		case e := <-h.events:
			for _, k := range kinds {
				if e.Kind == k {
					return e
				}
			}
		case <-time.After(10 * time.Second):
			h.t.Fatalf("no %v event", kinds)
		}
	}
}

// advanceToNextTimer moves the fake clock to the scheduler's next wake-up.
func (h *harness) advanceToNextTimer() time.Time {
	at := h.clock.NextTimer()
	h.clock.Set(at)
	return at
}

func sched(t *testing.T, spec, zone string) cron.Schedule {
	var loc *time.Location = time.UTC
	if zone != "" {
		loc = mustLoc(t, zone)
	}
	return mustSchedule(t, spec, loc)
}

func TestSchedulerRunsOnSchedule(t *testing.T) {
	start := time.Date(2026, 5, 1, 10, 7, 0, 0, time.UTC)
	h := newHarness(t, start, nil)
	var mu sync.Mutex
	var ran []time.Time
	h.s.Set([]Job{{Name: "q", Key: "k", Schedule: sched(t, "*/15 * * * *", ""), Run: func(context.Context) {
		mu.Lock()
		ran = append(ran, h.clock.Now())
		mu.Unlock()
	}}})
	h.start()
	for range 4 {
		h.advanceToNextTimer()
		h.next(Finished)
	}
	want := []time.Time{start.Add(8 * time.Minute), start.Add(23 * time.Minute), start.Add(38 * time.Minute), start.Add(53 * time.Minute)}
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != len(want) {
		t.Fatalf("ran %d times, want %d", len(ran), len(want))
	}
	for i := range want {
		if !ran[i].Equal(want[i]) {
			t.Errorf("run %d at %v, want %v", i, ran[i], want[i])
		}
	}
}

func TestSchedulerJitter(t *testing.T) {
	start := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
	var asked []time.Duration
	h := newHarness(t, start, func(max time.Duration) time.Duration {
		asked = append(asked, max)
		return max / 3
	})
	h.s.Set([]Job{{Name: "n", Schedule: sched(t, "0 3 * * *", ""), Jitter: 30 * time.Minute, Run: func(context.Context) {}}})
	h.start()
	ev := h.next(Planned)
	if want := start.Add(time.Hour); !ev.Due.Equal(want) || !ev.At.Equal(want.Add(10*time.Minute)) {
		t.Fatalf("planned %v at %v, want nominal %v, start 10m later", ev.Due, ev.At, want)
	}
	at := h.advanceToNextTimer()
	if st := h.next(Started); !st.At.Equal(at) || !at.Equal(start.Add(70*time.Minute)) {
		t.Errorf("started at %v (timer %v), want 03:10", st.At, at)
	}
	// The next nominal time is from the schedule, not from the jittered start.
	if p := h.next(Planned); !p.Due.Equal(start.Add(25 * time.Hour)) {
		t.Errorf("next nominal %v, want 03:00 the next day", p.Due)
	}
	if len(asked) < 2 || asked[0] != 30*time.Minute {
		t.Errorf("jitter asked with %v, want 30m each time", asked)
	}
}

func TestSchedulerNeverOverlapsAJob(t *testing.T) {
	start := time.Date(2026, 5, 1, 0, 0, 30, 0, time.UTC)
	h := newHarness(t, start, nil)
	release := make(chan struct{})
	var mu sync.Mutex
	runs := 0
	h.s.Set([]Job{
		{Name: "slow", Schedule: sched(t, "* * * * *", ""), Run: func(ctx context.Context) {
			mu.Lock()
			runs++
			mu.Unlock()
			<-release
		}},
	})
	h.start()
	h.advanceToNextTimer() // 00:01: starts
	first := h.next(Started)
	h.advanceToNextTimer() // 00:02: still running
	sk := h.next(Skipped)
	if sk.Job != "slow" || !sk.Since.Equal(first.At) || !sk.Due.Equal(start.Add(90*time.Second)) {
		t.Errorf("skip event %+v, want job slow due 00:02 running since %v", sk, first.At)
	}
	if r := h.s.Running(); !r["slow"].Equal(first.At) {
		t.Errorf("Running() = %v", r)
	}
	h.advanceToNextTimer() // 00:03: skipped again
	h.next(Skipped)
	close(release)
	h.next(Finished)
	h.advanceToNextTimer() // 00:04: runs again
	h.next(Started)
	h.next(Finished)
	mu.Lock()
	defer mu.Unlock()
	if runs != 2 {
		t.Errorf("ran %d times, want 2 (two skipped)", runs)
	}
}

func TestSchedulerSetKeepsUnchangedJobs(t *testing.T) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	h := newHarness(t, start, nil)
	noop := func(context.Context) {}
	h.s.Set([]Job{{Name: "every", Key: "@every 1h", Schedule: sched(t, "@every 1h", ""), Run: noop}})
	h.start()
	h.next(Planned)
	h.clock.Advance(40 * time.Minute)
	// A reload with the same key keeps 01:00; a new key plans afresh.
	h.s.Set([]Job{
		{Name: "every", Key: "@every 1h", Schedule: sched(t, "@every 1h", ""), Run: noop},
		{Name: "other", Key: "x", Schedule: sched(t, "@every 1h", ""), Run: noop},
	})
	h.next(Planned)
	nr := h.s.NextRuns()
	if !nr["every"].Equal(start.Add(time.Hour)) || !nr["other"].Equal(start.Add(100*time.Minute)) {
		t.Errorf("NextRuns() = %v, want every at 01:00, other at 01:40", nr)
	}
	h.s.Set(nil)
	if len(h.s.NextRuns()) != 0 {
		t.Errorf("NextRuns() after removing all jobs = %v", h.s.NextRuns())
	}
}

func TestSchedulerClockJump(t *testing.T) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	h := newHarness(t, start, nil)
	h.s.Set([]Job{{Name: "h", Schedule: sched(t, "0 * * * *", ""), Run: func(context.Context) {}}})
	h.start()
	h.next(Planned)
	h.clock.NextTimer()                                  // the scheduler has armed its timer
	h.clock.Set(start.Add(5*time.Hour + 30*time.Minute)) // suspended from 00:00 to 05:30
	st := h.next(Started)
	if !st.Due.Equal(start.Add(time.Hour)) {
		t.Errorf("started for %v, want the 01:00 run (once)", st.Due)
	}
	m := h.next(Missed)
	if m.Count != 4 {
		t.Errorf("missed %d runs, want 4 (02:00 to 05:00)", m.Count)
	}
	if p := h.next(Planned); !p.Due.Equal(start.Add(6 * time.Hour)) {
		t.Errorf("planned %v after the jump, want 06:00", p.Due)
	}
}

func TestSchedulerStopWaitsForRunningJobs(t *testing.T) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	h := newHarness(t, start, nil)
	sawCancel := make(chan struct{})
	h.s.Set([]Job{{Name: "long", Schedule: sched(t, "@every 1m", ""), Run: func(ctx context.Context) {
		<-ctx.Done()
		close(sawCancel)
	}}})
	h.start()
	h.advanceToNextTimer()
	h.next(Started)
	h.cancel()
	select {
	case err := <-h.done:
		t.Fatalf("Run returned (%v) before the running job did", err)
	case <-sawCancel:
	}
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its job did")
	}
	h.done <- nil // for the cleanup
}

func TestSchedulerDSTDay(t *testing.T) {
	// A daemon in Europe/Berlin with a 02:30 job, running through the
	// night the clocks go forward: the job runs at 03:00 CEST, once.
	berlin := mustLoc(t, "Europe/Berlin")
	start := time.Date(2026, 3, 28, 12, 0, 0, 0, berlin)
	h := newHarness(t, start, nil)
	h.s.Set([]Job{{Name: "n", Schedule: sched(t, "30 2 * * *", "Europe/Berlin"), Run: func(context.Context) {}}})
	h.start()
	var got []string
	for range 3 {
		h.advanceToNextTimer()
		got = append(got, h.next(Started).At.In(berlin).Format("01-02 15:04 MST"))
		h.next(Finished) // else the next run could find it still running
	}
	want := []string{"03-29 03:00 CEST", "03-30 02:30 CEST", "03-31 02:30 CEST"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("runs %v, want %v", got, want)
			break
		}
	}
}

func TestSchedulerWakesUpEveryMaxSleep(t *testing.T) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := NewFake(start)
	s := New(&Options{Clock: clock, MaxSleep: time.Minute})
	s.Set([]Job{{Name: "n", Schedule: sched(t, "0 3 * * *", ""), Run: func(context.Context) {}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := 1; i <= 3; i++ {
		if at := clock.NextTimer(); !at.Equal(start.Add(time.Duration(i) * time.Minute)) {
			t.Fatalf("timer %d at %v, want a wake-up every minute", i, at)
		}
		clock.Advance(time.Minute)
	}
}
