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

func TestAnchored(t *testing.T) {
	re, err := Anchored(`a|b`)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"a": true, "b": true, "ab": false, "xa": false} {
		if re.MatchString(s) != want {
			t.Errorf("%q: %v", s, !want)
		}
	}
	if _, err := Anchored(`(`); err == nil || !strings.Contains(err.Error(), `"(" is not a valid regular expression`) {
		t.Errorf("bad pattern: %v", err)
	}
}
