package archive

import (
	"sync"
	"time"
)

// The compact forms of format version 2 (FORMAT.md): dates as Unix
// seconds with the zone's offset beside them, flag lists as ids of the
// flagsets table. The scan functions also read version 1's text forms,
// which a read-only open of a version 1 archive presents (upgrade.go).

// flagsSQL is the JoinFlags text of the flags of the messages row m, for
// readers (a version 1 archive read through the shim has the text itself
// in m.flags, and an empty flagsets).
func flagsSQL(m string) string {
	return `coalesce((SELECT fs.flags FROM flagsets fs WHERE fs.id=` + m + `.flags), nullif(` + m + `.flags, 0), '')`
}

// placeDate is how messages.date and tz store an INTERNALDATE: Unix
// seconds and the zone's offset in minutes. A place without one (POP3,
// some imports) is dated by its message's Date: header: date set, tz
// NULL; both NULL when that is missing or unreadable too.
func placeDate(t time.Time) (date, tz any) {
	if t.IsZero() {
		return nil, nil
	}
	_, off := t.Zone()
	return t.Unix(), off / 60
}

// scanPlaceDate is the inverse of placeDate: the date and whether it is
// not an INTERNALDATE (the Date: header's, in UTC; zero when there is
// none). It also reads version 1's text (archives read through the shim
// of upgrade.go): the INTERNALDATE in DateLayout, or the Date: header.
func scanPlaceDate(date, tz any) (time.Time, bool) {
	switch d := date.(type) {
	case int64:
		off, ok := tz.(int64)
		if !ok {
			return time.Unix(d, 0).UTC(), true
		}
		return time.Unix(d, 0).In(zoneOf(int(off))), false
	case []byte:
		return scanPlaceDate(string(d), tz)
	case string:
		if t, err := time.Parse(DateLayout, d); err == nil {
			return t, false
		}
		t, _ := ParseDateHeader(d)
		return t, true
	}
	return time.Time{}, true
}

var zones sync.Map // offset in minutes -> *time.Location

// zoneOf is a fixed zone of that offset, as time.Parse makes for a
// numeric zone (so dates read back as they were parsed).
func zoneOf(minutes int) *time.Location {
	if minutes == 0 {
		return time.UTC
	}
	if l, ok := zones.Load(minutes); ok {
		return l.(*time.Location)
	}
	l := time.FixedZone("", minutes*60)
	zones.Store(minutes, l)
	return l
}

// headerDate is how blobs.date stores a Date: header: Unix seconds, or
// NULL when it is missing or unreadable.
func headerDate(s string) any {
	if t, ok := ParseDateHeader(s); ok {
		return t.Unix()
	}
	return nil
}
