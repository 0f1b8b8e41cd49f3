package pdl

import "testing"

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"*@gmail.com", "x@gmail.com", true},
		{"*@gmail.com", "x@gmail.com.evil.org", false},
		{"*@gmail.com", "@gmail.com", true},
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"a*c", "ac", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false},
		{"*", "", true},
		{"a*a", "a", false},
		{"**", "anything", true},
		{"hyperty://*/Connector", "hyperty://d.com/Connector", true},
	}
	for _, tt := range tests {
		if got := compileGlob(tt.pattern).match(tt.value); got != tt.want {
			t.Errorf("%q like %q = %v, want %v", tt.value, tt.pattern, got, tt.want)
		}
	}
}

func TestClockAndDate(t *testing.T) {
	clocks := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"00:00:00", 0, true},
		{"23:59:59", 86399, true},
		{"12:30", 45000, true},
		{"24:00", 0, false},
		{"12:60", 0, false},
		{"1:00", 0, false},
		{"12-30", 0, false},
	}
	for _, tt := range clocks {
		got, ok := clock(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("clock(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	dates := []struct {
		in string
		ok bool
	}{
		{"2026-11-28", true}, {"2026-13-01", false}, {"2026-00-10", false}, {"26-11-28", false}, {"2026/11/28", false},
	}
	for _, tt := range dates {
		if _, ok := calendarDay(tt.in); ok != tt.ok {
			t.Errorf("calendarDay(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
	}
}

func TestRanges(t *testing.T) {
	tests := []struct {
		rng   string
		value any
		want  bool
	}{
		{"1 10", 5.0, true},
		{"1 10", 1.0, false},
		{"1 10", "9.5", true},
		{"1 10", "x", false},
		{"09:00 17:00", "12:00:00", true},
		{"09:00 17:00", "17:00:00", false},
		{"22:00 06:00", "23:30:00", true},
		{"22:00 06:00", "01:00:00", true},
		{"22:00 06:00", "12:00:00", false},
		{"2026-01-01 2026-12-31", "2026-06-15", true},
		{"2026-01-01 2026-12-31", "2027-01-01", false},
		{"monday friday", "Wednesday", true},
		{"monday friday", "monday", true},
		{"monday friday", "saturday", false},
		{"friday monday", "sunday", true},
		{"friday monday", "Monday", true},
		{"friday monday", "tuesday", false},
		{"monday friday", nil, false},
	}
	for _, tt := range tests {
		r, err := parseRange(tt.rng)
		if err != nil {
			t.Fatalf("%q: %v", tt.rng, err)
		}
		if got := r.test(nil, tt.value); got != tt.want {
			t.Errorf("%v between %q = %v, want %v", tt.value, tt.rng, got, tt.want)
		}
	}
	for _, bad := range []string{"1", "1 2 3", "25:00 10:00", "2026-02-30x 2026-03-01", "funday monday", "1 x"} {
		if _, err := parseRange(bad); err == nil {
			t.Errorf("parseRange(%q): no error", bad)
		}
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		v, p any
		fold bool
		want bool
	}{
		{"a", "a", false, true},
		{"A", "a", false, false},
		{"Monday", "monday", true, true},
		{1.0, "1", false, true},
		{"1", 1.0, false, true},
		{"1.0", "1", false, false},
		{true, "true", false, true},
		{"false", false, false, true},
		{[]any{"a", "b"}, 2.0, false, true},
		{[]any{"a", "b"}, []any{"a", "b"}, false, true},
		{[]any{"video"}, "video", false, false},
		{nil, "x", false, false},
		{map[string]any{"a": 1.0}, map[string]any{"a": 1}, false, true},
		{3, 3.0, false, true},
	}
	for _, tt := range tests {
		if got := equal(tt.v, tt.p, tt.fold); got != tt.want {
			t.Errorf("equal(%#v, %#v, %v) = %v, want %v", tt.v, tt.p, tt.fold, got, tt.want)
		}
	}
}
