package pdl

import (
	"fmt"
	"strconv"
	"strings"
)

// glob is an anchored pattern in which * matches any run of characters.
type glob struct {
	parts []string // the literal pieces between stars
	star  bool     // the pattern has at least one star
}

func compileGlob(p string) glob {
	parts := strings.Split(p, "*")
	return glob{parts: parts, star: len(parts) > 1}
}

func (g glob) match(s string) bool {
	if !g.star {
		return s == g.parts[0]
	}
	first, last := g.parts[0], g.parts[len(g.parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, mid := range g.parts[1 : len(g.parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return true
}

// rangeKind is what a between range compares.
type rangeKind uint8

const (
	numberRange rangeKind = iota
	timeRange
	dateRange
	weekdayRange
)

// span is a compiled between range.
type span struct {
	kind   rangeKind
	lo, hi float64
}

var weekdays = map[string]int{
	"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6,
	"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
}

// parseRange reads "low high" as a numeric, time, date or weekday range.
func parseRange(s string) (span, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return span{}, fmt.Errorf("between takes a range written \"low high\", found %q", s)
	}
	lo, hi := f[0], f[1]
	switch {
	case strings.Contains(lo, ":") || strings.Contains(hi, ":"):
		a, ok1 := clock(lo)
		b, ok2 := clock(hi)
		if !ok1 || !ok2 {
			bad := lo
			if ok1 {
				bad = hi
			}
			return span{}, fmt.Errorf("bad time %q in range %q: want HH:mm:ss or HH:mm", bad, s)
		}
		return span{kind: timeRange, lo: a, hi: b}, nil
	case len(lo) == 10 && strings.Count(lo, "-") == 2 || len(hi) == 10 && strings.Count(hi, "-") == 2:
		a, ok1 := calendarDay(lo)
		b, ok2 := calendarDay(hi)
		if !ok1 || !ok2 {
			bad := lo
			if ok1 {
				bad = hi
			}
			return span{}, fmt.Errorf("bad date %q in range %q: want YYYY-MM-DD", bad, s)
		}
		return span{kind: dateRange, lo: a, hi: b}, nil
	}
	if a, ok := parseNumber(lo); ok {
		b, ok := parseNumber(hi)
		if !ok {
			return span{}, fmt.Errorf("bad number %q in range %q", hi, s)
		}
		return span{kind: numberRange, lo: a, hi: b}, nil
	}
	a, ok1 := weekdays[strings.ToLower(lo)]
	b, ok2 := weekdays[strings.ToLower(hi)]
	if !ok1 || !ok2 {
		return span{}, fmt.Errorf("bad range %q: want numbers, times HH:mm:ss, dates YYYY-MM-DD or weekday names", s)
	}
	return span{kind: weekdayRange, lo: float64(a), hi: float64(b)}, nil
}

func (r span) test(_ *state, v any) bool {
	switch r.kind {
	case numberRange:
		x, ok := number(v)
		return ok && x > r.lo && x < r.hi
	case timeRange:
		str, ok := v.(string)
		if !ok {
			return false
		}
		x, ok := clock(str)
		if !ok {
			return false
		}
		if r.hi < r.lo {
			return x > r.lo || x < r.hi
		}
		return x > r.lo && x < r.hi
	case dateRange:
		str, ok := v.(string)
		if !ok {
			return false
		}
		x, ok := calendarDay(str)
		return ok && x > r.lo && x < r.hi
	case weekdayRange:
		str, ok := v.(string)
		if !ok {
			return false
		}
		d, ok := weekdayNumber(str)
		if !ok {
			return false
		}
		x := float64(d)
		if r.hi < r.lo {
			return x >= r.lo || x <= r.hi
		}
		return x >= r.lo && x <= r.hi
	}
	return false
}

// weekdayNumber reads an English day name without case and without allocating.
func weekdayNumber(s string) (int, bool) {
	for name, d := range weekdays {
		if strings.EqualFold(name, s) {
			return d, true
		}
	}
	return 0, false
}

// clock reads HH:mm:ss or HH:mm as seconds since midnight.
func clock(s string) (float64, bool) {
	if len(s) != 5 && len(s) != 8 {
		return 0, false
	}
	h, ok1 := twoDigits(s[0:2], 23)
	m, ok2 := twoDigits(s[3:5], 59)
	if !ok1 || !ok2 || s[2] != ':' {
		return 0, false
	}
	sec := 0
	if len(s) == 8 {
		var ok bool
		if sec, ok = twoDigits(s[6:8], 59); !ok || s[5] != ':' {
			return 0, false
		}
	}
	return float64(h*3600 + m*60 + sec), true
}

// calendarDay reads YYYY-MM-DD as a sortable number.
func calendarDay(s string) (float64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, err := strconv.Atoi(s[0:4])
	if err != nil || y < 0 {
		return 0, false
	}
	m, ok1 := twoDigits(s[5:7], 12)
	d, ok2 := twoDigits(s[8:10], 31)
	if !ok1 || !ok2 || m == 0 || d == 0 {
		return 0, false
	}
	return float64(y*10000 + m*100 + d), true
}

func twoDigits(s string, max int) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	n := int(s[0]-'0')*10 + int(s[1]-'0')
	return n, n <= max
}
