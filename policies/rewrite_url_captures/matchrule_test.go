package rewriteurlcaptures

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseMatchRule(t *testing.T) {
	tests := []struct {
		rule  string
		names []string
		path  string
		want  []string // the captures, nil for no match
	}{
		{"/{a}/{b}", []string{"{a}", "{b}"}, "/x/y", []string{"x", "y"}},
		{"/{var_1}/blah/{var_2}", []string{"{var_1}", "{var_2}"}, "/abc/blah/def", []string{"abc", "def"}},
		{"no placeholders", nil, "/no placeholders", []string{}},
		{"/{a}", []string{"{a}"}, "/", nil},
		{"/{a}", []string{"{a}"}, "/$&'()*+,;=@:!~.-_%", []string{"$&'()*+,;=@:!~.-_%"}},
		{"/{a}/", []string{"{a}"}, "/x y/", nil},
		{"/{}/{a}", []string{"{}/{a}"}, "/q", []string{"q"}},
		{"/{{a}", []string{"{{a}"}, "/q", []string{"q"}},
		{"/{a", nil, "/{a", []string{}},
		{"/(v1|v2)/{id}", []string{"{id}"}, "/v2/7", []string{"7"}},
		{"/((x))?{id}", []string{"{id}"}, "/9", []string{"9"}},
		{"/\\d{2}/{id}", []string{"{2}", "{id}"}, "/\\d", nil},
	}
	for _, tt := range tests {
		m, err := parseMatchRule(tt.rule)
		if err != nil {
			t.Errorf("%q: %v", tt.rule, err)
			continue
		}
		if !slices.Equal(m.names, tt.names) {
			t.Errorf("%q: names %q, want %q", tt.rule, m.names, tt.names)
		}
		idx := m.re.FindStringSubmatchIndex(tt.path)
		if (idx == nil) != (tt.want == nil) {
			t.Errorf("%q on %q: matched %v, want %v", tt.rule, tt.path, idx != nil, tt.want != nil)
			continue
		}
		if idx == nil {
			continue
		}
		c := captures{path: tt.path, index: idx, groups: m.groups}
		var got []string
		for k := range m.names {
			got = append(got, c.value(k))
		}
		if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("%q on %q: captures %q, want %q", tt.rule, tt.path, got, tt.want)
		}
	}
}

func TestParts(t *testing.T) {
	names := []string{"{a}", "{bb}", "{a}"}
	tests := []struct {
		template string
		want     []part
	}{
		{"/x", []part{{"/x", -1}}},
		{"/{a}/{bb}", []part{{"/", -1}, {"", 0}, {"/", -1}, {"", 1}}},
		{"{bb}{a}", []part{{"", 1}, {"", 0}}},
		{"/{c}/{a", []part{{"/{c}/{a", -1}}},
		{"{{a}}", []part{{"{", -1}, {"", 0}, {"}", -1}}},
		{"", []part{{"", -1}}},
	}
	for _, tt := range tests {
		if got := parts(tt.template, names); !slices.Equal(got, tt.want) {
			t.Errorf("parts(%q) = %v, want %v", tt.template, got, tt.want)
		}
	}
}

// FuzzMatchRule compiles arbitrary match rules and templates and applies
// them to arbitrary paths: a rule is compiled or refused with an error,
// never a panic; a rewrite gives a path that starts with a slash and a
// query that parses.
func FuzzMatchRule(f *testing.F) {
	f.Add("/{var_1}/{var_2}", "/{var_2}?my_arg={var_1}", "/abc/def", "user_key=1")
	f.Add("^/v[0-9]+/{id}$", "{id}?a&b={id}&{id}=c", "/v2/x&y=z", "")
	f.Add("/{a}{b}", "/{b}{a}?x=%zz", "/ab", "x=1&x=2&%zz")
	f.Add("{}}{{{", "/{}}?{{{={}}", "/", "")
	f.Fuzz(func(t *testing.T, rule, template, path, query string) {
		tr, err := compile(Transformation{MatchRule: rule, Template: template})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		m := tr.rule.re.FindStringSubmatchIndex(path)
		if m == nil {
			return
		}
		c := captures{path: path, index: m, groups: tr.rule.groups}
		if p := tr.renderPath(c); !strings.HasPrefix(p, "/") {
			t.Fatalf("rule %q, template %q on %q: path %q", rule, template, path, p)
		}
		if len(tr.args) == 0 {
			return
		}
		q := tr.setArgs(query, c)
		if _, err := url.ParseQuery(q); err != nil && !strings.Contains(query, "%") && !strings.Contains(query, ";") {
			t.Fatalf("rule %q, template %q on %q?%q: query %q: %v", rule, template, path, query, q, err)
		}
	})
}
