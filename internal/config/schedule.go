package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a job schedule: a cron expression of five fields
// (minute hour day-of-month month day-of-week, as in crontab(5)), or one
// of @yearly, @monthly, @weekly, @daily, @midnight, @hourly, or
// "@every DURATION" with a Go duration of at least one second. Cron
// expressions and descriptors are evaluated in loc; "@every" counts from
// when the scheduler starts. The time zone is not part of the schedule:
// it comes from the job's timezone key.
func ParseSchedule(spec string, loc *time.Location) (sched cron.Schedule, err error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, errors.New("empty schedule")
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, errors.New("give the time zone with the job's timezone key, not in the schedule")
	case spec == "@every" || strings.HasPrefix(spec, "@every ") || strings.HasPrefix(spec, "@every\t"):
		arg := strings.TrimSpace(strings.TrimPrefix(spec, "@every"))
		d, err := time.ParseDuration(arg)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("@every wants a duration of at least 1s, like \"@every 6h\"")
		}
		return cron.Every(d), nil
	}
	defer func() {
		// Schedules come from users; a parser bug must not crash a daemon.
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
	}()
	sched, err = cronParser.Parse(spec)
	if err != nil {
		return nil, err
	}
	if s, ok := sched.(*cron.SpecSchedule); ok && loc != nil {
		s.Location = loc
	}
	return sched, nil
}
