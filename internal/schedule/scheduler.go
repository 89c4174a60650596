package schedule

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one scheduled job.
type Job struct {
	Name string
	// Key identifies the schedule (spec, zone, jitter): when Set replaces
	// a job with one of the same Name and Key, its next time is kept.
	Key      string
	Schedule cron.Schedule
	Jitter   time.Duration
	// Run does the work; ctx ends when the scheduler is stopped.
	Run func(ctx context.Context)
}

// EventKind says what happened to a job.
type EventKind string

// Events reported through Options.OnEvent (and logged).
const (
	Planned  EventKind = "planned"  // Due: the next nominal time; At: with jitter
	Started  EventKind = "started"  // Due: the nominal time that started it
	Finished EventKind = "finished" // Due: the nominal time it ran for
	Skipped  EventKind = "skipped"  // due while the previous run was still going
	Missed   EventKind = "missed"   // the clock jumped past runs (suspend, a stall)
)

// Event is one thing that happened to a job.
type Event struct {
	Kind  EventKind
	Job   string
	Due   time.Time // the nominal (un-jittered) time of the run concerned
	At    time.Time // clock time of the event (for Planned: when it will start)
	Since time.Time // Skipped: when the run that is still going started
	Count int       // Missed: how many runs were missed
}

// Options configure a Scheduler; the zero value is usable.
type Options struct {
	Clock   Clock        // nil: the system clock
	Logger  *slog.Logger // nil: no logs
	OnEvent func(Event)  // called outside the scheduler's lock
	// Jitter returns a random duration in [0, max); nil: math/rand.
	Jitter func(max time.Duration) time.Duration
	// MaxSleep is the longest the scheduler sleeps before it looks at
	// the clock again; 0 means a minute. Timers run on the monotonic
	// clock, which stops while a machine is suspended: waking up every
	// so often keeps a laptop's 03:00 job from running hours late.
	MaxSleep time.Duration
}

// Scheduler starts jobs on their schedules.
type Scheduler struct {
	clock   Clock
	log     *slog.Logger
	onEvent func(Event)
	jitter  func(time.Duration) time.Duration
	maxNap  time.Duration

	mu      sync.Mutex
	entries map[string]*entry
	running map[string]time.Time // by job name; survives Set
	wake    chan struct{}
	wg      sync.WaitGroup
}

type entry struct {
	job     Job
	nominal time.Time // next run's nominal time; zero: never
	due     time.Time // nominal + jitter
}

// New returns a scheduler with no jobs.
func New(o *Options) *Scheduler {
	if o == nil {
		o = &Options{}
	}
	s := &Scheduler{clock: o.Clock, log: o.Logger, onEvent: o.OnEvent, jitter: o.Jitter, maxNap: o.MaxSleep,
		entries: map[string]*entry{}, running: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	if s.clock == nil {
		s.clock = RealClock()
	}
	if s.maxNap <= 0 {
		s.maxNap = time.Minute
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.jitter == nil {
		s.jitter = func(max time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(max))) }
	}
	return s
}

// Set replaces the jobs. A job that keeps its Name and Key keeps its next
// time; a running job whose name disappears finishes undisturbed.
func (s *Scheduler) Set(jobs []Job) {
	s.mu.Lock()
	now := s.clock.Now()
	old := s.entries
	s.entries = map[string]*entry{}
	var events []Event
	for _, j := range jobs {
		if j.Schedule == nil {
			continue
		}
		if e, ok := old[j.Name]; ok && e.job.Key == j.Key {
			e.job = j
			s.entries[j.Name] = e
			continue
		}
		e := &entry{job: j}
		s.plan(e, Next(j.Schedule, now))
		s.entries[j.Name] = e
		events = append(events, Event{Kind: Planned, Job: j.Name, Due: e.nominal, At: e.due})
	}
	s.mu.Unlock()
	s.emit(events)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) plan(e *entry, nominal time.Time) {
	e.nominal, e.due = nominal, nominal
	if !nominal.IsZero() && e.job.Jitter > 0 {
		e.due = nominal.Add(s.jitter(e.job.Jitter))
	}
}

// NextRuns returns each job's next start (jitter included), by name.
func (s *Scheduler) NextRuns() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Time{}
	for n, e := range s.entries {
		out[n] = e.due
	}
	return out
}

// Running returns the jobs running now and since when.
func (s *Scheduler) Running() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Time{}
	for n, t := range s.running {
		out[n] = t
	}
	return out
}

// Run starts jobs as they come due until ctx ends, then waits for the
// running jobs (which see ctx's end) to return.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.wg.Wait()
	for {
		events, wake, now := s.tick(ctx)
		s.emit(events)
		var timerC <-chan time.Time
		var timer Timer
		if !wake.IsZero() {
			at := wake
			if limit := now.Add(s.maxNap); limit.Before(at) {
				at = limit
			}
			timer = s.clock.TimerAt(at)
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return ctx.Err()
		case <-timerC:
		case <-s.wake:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

// tick starts what is due and returns the events and the next wake-up.
func (s *Scheduler) tick(ctx context.Context) (events []Event, wake, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = s.clock.Now()
	names := make([]string, 0, len(s.entries))
	for n := range s.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := s.entries[n]
		if !e.due.IsZero() && !now.Before(e.due) {
			events = append(events, s.fire(ctx, e, now)...)
		}
		if !e.due.IsZero() && (wake.IsZero() || e.due.Before(wake)) {
			wake = e.due
		}
	}
	return events, wake, now
}

func (s *Scheduler) fire(ctx context.Context, e *entry, now time.Time) []Event {
	var events []Event
	name, nominal := e.job.Name, e.nominal
	if since, busy := s.running[name]; busy {
		events = append(events, Event{Kind: Skipped, Job: name, Due: nominal, At: now, Since: since})
	} else {
		s.running[name] = now
		events = append(events, Event{Kind: Started, Job: name, Due: nominal, At: now})
		run := e.job.Run
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			run(ctx)
			s.mu.Lock()
			delete(s.running, name)
			end := s.clock.Now()
			s.mu.Unlock()
			s.emit([]Event{{Kind: Finished, Job: name, Due: nominal, At: end}})
		}()
	}
	next := Next(e.job.Schedule, nominal)
	if !next.IsZero() && !next.After(now) {
		// The clock jumped over later runs: do not run them all now.
		missed := 0
		for t := next; !t.IsZero() && !t.After(now) && missed < 10000; t = Next(e.job.Schedule, t) {
			missed++
		}
		events = append(events, Event{Kind: Missed, Job: name, Due: next, At: now, Count: missed})
		next = Next(e.job.Schedule, now)
	}
	s.plan(e, next)
	events = append(events, Event{Kind: Planned, Job: name, Due: e.nominal, At: e.due})
	return events
}

func (s *Scheduler) emit(events []Event) {
	for _, ev := range events {
		s.logEvent(ev)
		if s.onEvent != nil {
			s.onEvent(ev)
		}
	}
}

func (s *Scheduler) logEvent(ev Event) {
	switch ev.Kind {
	case Planned:
		if ev.Due.IsZero() {
			s.log.Warn("job will not run again: its schedule has no next time", "job", ev.Job)
			return
		}
		s.log.Info("next run planned", "job", ev.Job, "at", ev.At.Format(time.RFC3339), "nominal", ev.Due.Format(time.RFC3339))
	case Started:
		s.log.Info("job starting", "job", ev.Job, "nominal", ev.Due.Format(time.RFC3339))
	case Finished:
		s.log.Debug("job run over", "job", ev.Job)
	case Skipped:
		s.log.Warn("run skipped: the previous run is still going", "job", ev.Job,
			"nominal", ev.Due.Format(time.RFC3339), "running_since", ev.Since.Format(time.RFC3339))
	case Missed:
		s.log.Warn("runs missed: the clock jumped past them (suspend or a stall); planning from now",
			"job", ev.Job, "missed", ev.Count, "first_missed", ev.Due.Format(time.RFC3339))
	}
}
