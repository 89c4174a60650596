// Package schedule runs jobs on cron schedules with an injectable clock,
// so tests move time instead of sleeping through it.
//
//	s := schedule.New(&schedule.Options{Clock: schedule.RealClock()})
//	s.Set(jobs)               // again on SIGHUP: unchanged schedules keep their next time
//	s.Run(ctx)                // until ctx ends and the running jobs return
//
//	loop:
//	    for each job whose due time has come:
//	        still running from before?  skip this run, log it (a job never overlaps itself)
//	        otherwise                   start it in its own goroutine
//	        next nominal time = Next(schedule, this nominal time), due = nominal + random jitter
//	        (if that is already past, the clock jumped: log the missed runs, plan from now)
//	    sleep on the clock until the earliest due time, a Set, or ctx's end
//
// Time zones and daylight saving time (Next): a cron schedule is read in
// its job's zone, as wall-clock time.
//   - A wall time that does not exist on a day (spring forward: 02:30 in
//     Europe/Berlin on the last Sunday of March) runs once, at the moment
//     the clocks jump (03:00 CEST). A run is never silently dropped.
//   - A wall time that happens twice (fall back: 02:30 on the last Sunday
//     of October) runs once, at its first occurrence (02:30 CEST).
//     Hourly schedules therefore have one run fewer that night.
//   - @every DURATION counts real elapsed time and ignores zones.
//
// Back-off (Backoff): an account that failed k scheduled runs in a row is
// tried again after 2^(k-1) schedule intervals, at most a day (never less
// than one interval), so an hourly job with a wrong password is tried at
// 1, 2, 4, 8, 16 and then 24 hour gaps, and a daily job keeps its daily
// attempt.
package schedule
