package condition

import (
	"strings"
	"testing"
)

func TestParseOp(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Op
		err  string
	}{
		{"==", OpEqual, ""},
		{"!=", OpNotEqual, ""},
		{"matches", OpMatches, ""},
		{"<", 0, `unknown operator "<" (want ==, != or matches)`},
		{"", 0, "unknown operator"},
	} {
		got, err := ParseOp(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseOp(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseOp(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseCombineOp(t *testing.T) {
	for in, want := range map[string]bool{"": false, "and": false, "or": true} {
		if got, err := ParseCombineOp(in); err != nil || got != want {
			t.Errorf("ParseCombineOp(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseCombineOp("xor"); err == nil || !strings.Contains(err.Error(), `"xor" is neither and nor or`) {
		t.Errorf("xor: %v", err)
	}
}

func TestPattern(t *testing.T) {
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{`a|b`, "a", true},
		{`a|b`, "xa", true},
		{`admin`, "not-admin", true},
		{`.*123.*`, "/something_123_something", true},
		{`bridge`, "/bridge-1", true},
		{`^(?:a|b)$`, "ab", false},
		{`^/v1`, "/v2/v1", false},
		{`A`, "a", false},
	}
	for _, tt := range tests {
		re, err := Pattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.MatchString(tt.value); got != tt.want {
			t.Errorf("%q matches %q: %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
	if _, err := Pattern(`(`); err == nil || !strings.Contains(err.Error(), `"(" is not a valid regular expression`) {
		t.Errorf("bad pattern: %v", err)
	}
}
