package config

import (
	"fmt"
	"strings"
	"time"
)

func (d *decoder) jobRules(c *Config, j *Job, p, dir string) {
	if !nameRE.MatchString(j.Name) {
		d.at(p, "bad job name %s: %s", quote(j.Name), nameRule)
	}
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"backup", j.Backup != nil}, {"migrate", j.Migrate != nil}, {"cleanup", j.Cleanup != nil}, {"export", j.Export != nil}} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	switch {
	case len(kinds) == 0:
		d.at(p, "needs one of backup, migrate, cleanup or export")
	case len(kinds) > 1:
		d.at(p, "has %s: a job does one of them", strings.Join(kinds, " and "))
	}

	for _, k := range []string{"schedule", "timezone"} {
		if d.has(p+"."+k) && (k == "schedule" && j.Schedule == "" || k == "timezone" && j.TimeZone == "") {
			d.at(p+"."+k, "empty: give it a value or remove it")
		}
	}
	j.Location = time.Local
	if j.TimeZone != "" {
		if loc, err := loadLocation(j.TimeZone); err != nil {
			d.at(p+".timezone", "unknown time zone %s (want an IANA name like Europe/Berlin)", quote(j.TimeZone))
		} else {
			j.Location = loc
		}
	}
	if j.Schedule != "" {
		s, err := ParseSchedule(j.Schedule, j.Location)
		if err != nil {
			d.at(p+".schedule", "bad schedule %s: %v", quote(j.Schedule), err)
		}
		j.Cron = s
	}
	if j.Jitter < 0 {
		d.at(p+".jitter", "must not be negative")
	} else if j.Jitter > 0 && j.Schedule == "" {
		d.warn(d.line(p+".jitter"), p+".jitter", "has no effect without a schedule")
	}
	if d.has(p+".on_failure") && strings.TrimSpace(j.OnFailure) == "" {
		d.at(p+".on_failure", "empty: give it a command or remove it")
	}

	switch {
	case j.Backup != nil:
		if len(j.Backup) == 0 && !d.decodeFailed(p+".backup") {
			d.at(p+".backup", "lists no accounts")
		}
		seen := map[string]bool{}
		for i, name := range j.Backup {
			ip := fmt.Sprintf("%s.backup[%d]", p, i)
			if seen[name] {
				d.at(ip, "account %s listed twice", quote(name))
			}
			seen[name] = true
			d.ref(c, ip, name)
		}
	case j.Migrate != nil:
		m := j.Migrate
		d.ref(c, p+".migrate.from", m.From)
		if to := d.ref(c, p+".migrate.to", m.To); to != nil && to.POP3 != nil {
			d.at(p+".migrate.to", "account %s is pop3; mail can only be migrated into an imap account", quote(m.To))
		}
		if m.From != "" && m.From == m.To {
			d.at(p+".migrate.to", "same account as from")
		}
	case j.Cleanup != nil:
		d.cleanupRules(c, j, p+".cleanup")
	case j.Export != nil:
		e := j.Export
		d.ref(c, p+".export.account", e.Account)
		if e.Format == "" {
			d.at(p+".export.format", "required (want %s)", orList(formats))
		} else if !oneOf(e.Format, formats) {
			d.at(p+".export.format", "%s is not valid (want %s)", quote(e.Format), orList(formats))
		}
		if e.Out == "" {
			d.at(p+".export.out", "required: the directory to write to")
		} else {
			e.Out = d.expandPath(p+".export.out", e.Out, dir)
		}
	}
}

func (d *decoder) cleanupRules(c *Config, j *Job, p string) {
	cl := j.Cleanup
	if a := d.ref(c, p+".account", cl.Account); a != nil && a.POP3 != nil {
		d.at(p+".account", "account %s is pop3; cleanup works on imap accounts (pop3 accounts use delete_after)", quote(cl.Account))
	}
	if s, ok := d.before[cl]; ok && s != "" {
		t, err := time.ParseInLocation("2006-01-02", s, j.Location)
		if err != nil {
			d.at(p+".before", "want a date like 2024-12-31, got %s", quote(s))
		}
		cl.Before = t
	}
	if d.has(p+".older_than") && cl.OlderThan.IsZero() {
		d.at(p+".older_than", "must be more than 0")
	}
	if d.has(p+".larger_than") && cl.LargerThan <= 0 {
		d.at(p+".larger_than", "must be more than 0")
	}
	if !d.has(p+".older_than") && !d.has(p+".before") && !d.has(p+".larger_than") {
		d.at(p, "needs older_than, before or larger_than: cleanup never deletes everything")
	}
	if cl.By == "" {
		cl.By = "internaldate"
	} else if !oneOf(cl.By, cleanupBy) {
		d.at(p+".by", "%s is not valid (want %s)", quote(cl.By), orList(cleanupBy))
	}
}

// ref looks up an account a job names, reporting it missing.
func (d *decoder) ref(c *Config, p, name string) *Account {
	if name == "" {
		d.at(p, "required: an account name")
		return nil
	}
	a := c.Accounts[name]
	if a == nil {
		d.at(p, "unknown account %s%s", quote(name), suggestion(name, c.Accounts))
	}
	return a
}
