package pdltest

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/config"
)

// shopPolicy is the document most tests run against: a firstApplicable set
// of two policies, templates in obligations, advice on deny, and a template
// that fails to render when count is 0.
const shopPolicy = `id: shop
policyCombiningAlgorithm: firstApplicable
obligations:
  deny: {info: refused by the shop}
policies:
  - id: orders
    target: {resource: {equals: order}}
    ruleCombiningAlgorithm: firstApplicable
    rules:
      - id: admins
        condition: {role: {equals: admin}}
        effect: permit
        obligations:
          audit: {who: "{{ user }}", level: 2}
          header: {X-Role: admin}
      - id: owners-read
        target: {action: {equals: read}}
        condition: {owner: {equals: "<user>"}}
        effect: permit
      - id: nobody-else
        effect: deny
        obligations:
          status: 403
  - id: reports
    target: {resource: {equals: report}}
    rules:
      - id: average
        effect: permit
        obligations:
          average: "{{ total | divided_by: count }}"
`

// writeFiles writes name → content under dir, making directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunCases(t *testing.T) {
	tests := []struct {
		name   string
		test   string // one case, as YAML
		fields []string
	}{
		{"decision", "{name: c, input: {resource: order, role: admin, user: ann}, decision: permit}", nil},
		{"wrong decision", "{name: c, input: {resource: order}, decision: permit}", []string{"decision"}},
		{"not applicable in either spelling", "{name: c, input: {resource: invoice}, decision: notApplicable}", nil},
		{"exact path", "{name: c, input: {resource: order}, decision: deny, path: PolicySet shop | Policy orders | Rule nobody-else}", nil},
		{"wrong path", "{name: c, input: {resource: order}, decision: deny, path: PolicySet shop | Policy orders}", []string{"path"}},
		{"path prefix", "{name: c, input: {resource: order}, decision: deny, path_prefix: PolicySet shop | Policy orders |}", nil},
		{"wrong path prefix", "{name: c, input: {resource: order}, decision: deny, path_prefix: PolicySet shop | Policy reports}", []string{"path"}},

		{"exact obligations, templates rendered", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations:
  - {name: audit, params: {who: ann, level: 2.0}}
  - {name: header, params: {X-Role: admin}}`, nil},
		{"exact obligations as a mapping", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations: {audit: {level: 2, who: ann}, header: {X-Role: admin}}`, nil},
		{"obligations out of order", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations: {header: {X-Role: admin}, audit: {level: 2, who: ann}}`, []string{"obligations[0]", "obligations[1]"}},
		{"an obligation's params differ", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations: {audit: {level: 3, who: ann, why: x}, header: {X-Role: admin}}`, []string{"obligations[0].params.level", "obligations[0].params.why"}},
		{"an obligation missing", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations: {audit: {level: 2, who: ann}, header: {X-Role: admin}, log: true}`, []string{"obligations[2]"}},
		{"an unexpected obligation", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations: {audit: {level: 2, who: ann}}`, []string{"obligations[1]"}},
		{"no obligations wanted, none given", "{name: c, input: {resource: order, action: read, owner: ann, user: ann}, decision: permit, obligations: []}", nil},
		{"no obligations wanted, one given", "{name: c, input: {resource: order}, decision: deny, obligations: []}", []string{"obligations[0]"}},

		{"included obligations", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations_include:
  - {name: header}
  - {name: audit, params: {who: ann}}`, nil},
		{"an included obligation is absent", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations_include: [{name: log}]`, []string{"obligations[0]"}},
		{"an included obligation's params differ", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations_include: {audit: {who: bob}}`, []string{"obligations[0]"}},
		{"included obligations need different matches", `name: c
input: {resource: order, role: admin, user: ann}
decision: permit
obligations_include: [{name: audit}, {name: audit, params: {level: 2}}]`, []string{"obligations"}},

		{"advice", "{name: c, input: {resource: order}, decision: deny, advice: {info: refused by the shop}}", nil},
		{"wrong advice", "{name: c, input: {resource: order}, decision: deny, advice: {info: go away}}", []string{"advice[0].params"}},
		{"included advice", "{name: c, input: {resource: order}, decision: deny, advice_include: [{name: info}]}", nil},
		{"no advice on permit", "{name: c, input: {resource: order, role: admin}, decision: permit, advice: []}", nil},

		{"indeterminate with its error", "{name: c, input: {resource: report, total: 10, count: 0}, decision: indeterminate, error: average}", nil},
		{"indeterminate with another error", "{name: c, input: {resource: report, total: 10, count: 0}, decision: indeterminate, error: no such words}", []string{"error"}},
		{"indeterminate wanted, none got", "{name: c, input: {resource: report, total: 10, count: 2}, decision: indeterminate, error: x}", []string{"decision", "error"}},
		{"a template renders the input", "{name: c, input: {resource: report, total: 10, count: 2}, decision: permit, obligations: {average: '5'}}", nil},
		{"every difference at once", `name: c
input: {resource: order}
decision: permit
path: x
obligations: []
advice: []`, []string{"decision", "path", "obligations[0]", "advice[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			test := "policy: shop.yaml\ncases:\n  - " + strings.ReplaceAll(tt.test, "\n", "\n    ") + "\n"
			writeFiles(t, dir, map[string]string{"shop.yaml": shopPolicy, "shop_test.yaml": test})
			rep, err := Run([]string{dir}, Options{})
			if err != nil {
				t.Fatalf("run: %v\n%s", err, test)
			}
			if len(rep.Cases) != 1 {
				t.Fatalf("%d cases run, want 1", len(rep.Cases))
			}
			c := rep.Cases[0]
			var fields []string
			for _, m := range c.Mismatches {
				fields = append(fields, m.Field)
			}
			if !reflect.DeepEqual(fields, tt.fields) {
				t.Errorf("mismatches on %q, want %q:\n%+v\ndecision %+v", fields, tt.fields, c.Mismatches, c.Decision)
			}
			wantStatus, passed, failed := StatusPass, 1, 0
			if len(tt.fields) > 0 {
				wantStatus, passed, failed = StatusFail, 0, 1
			}
			if c.Status != wantStatus || rep.Passed != passed || rep.Failed != failed {
				t.Errorf("status %s (passed %d, failed %d), want %s", c.Status, rep.Passed, rep.Failed, wantStatus)
			}
			if c.Line != 3 || c.Column != 5 || c.Name != "c" || c.File != filepath.Join(dir, "shop_test.yaml") {
				t.Errorf("case at %s:%d:%d named %q", c.File, c.Line, c.Column, c.Name)
			}
			if c.Decision.Trace != nil {
				t.Errorf("a trace without Explain")
			}
		})
	}
}

func TestMismatchMessages(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"shop.yaml": shopPolicy, "shop_test.yaml": `policy: shop.yaml
cases:
  - name: wrong
    input: {resource: order, role: admin, user: ann}
    decision: deny
    obligations: {audit: {who: bob, level: 2}}
  - name: absent
    input: {resource: order, role: admin, user: ann}
    decision: permit
    obligations_include: {audit: {who: bob}}
  - name: broken
    input: {resource: report, total: 1, count: 0}
    decision: permit
`})
	rep, err := Run([]string{dir}, Options{Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Mismatch{
		{
			{Field: "decision", Message: "want deny, got permit", Want: "deny", Got: "permit"},
			{Field: "obligations[0].params.who", Message: `want "bob", got "ann"`, Want: "bob", Got: "ann"},
			{Field: "obligations[1]", Message: `unexpected: got {"name":"header","params":{"X-Role":"admin"}}`,
				Got: plainObligation{Name: "header", Params: map[string]any{"X-Role": "admin"}}},
		},
		{
			{Field: "obligations[0]", Message: `nothing matches {"name":"audit","params":{"who":"bob"}}; audit has params {"level":2,"who":"ann"}`,
				Want: plainObligation{Name: "audit", Params: map[string]any{"who": "bob"}},
				Got: []plainObligation{{Name: "audit", Params: map[string]any{"level": 2.0, "who": "ann"}},
					{Name: "header", Params: map[string]any{"X-Role": "admin"}}}},
		},
		{
			{Field: "decision", Message: "want permit, got indeterminate (obligation average: Liquid error: error applying filter \"divided_by\" (\"division by zero\") in {{ total | divided_by: count }})", Want: "permit", Got: "indeterminate"},
		},
	}
	for i, c := range rep.Cases {
		if !reflect.DeepEqual(c.Mismatches, want[i]) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.Name, c.Mismatches, want[i])
		}
		if len(c.Decision.Trace) == 0 {
			t.Errorf("%s: no trace with Explain", c.Name)
		}
	}
}

func TestCoverage(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"shop.yaml": shopPolicy,
		// Two files on one document share its coverage.
		"a_test.yaml": `policy: shop.yaml
cases:
  - {name: admin, input: {resource: order, role: admin}, decision: permit}
  - {name: stranger writes, input: {resource: order, action: write}, decision: deny}
`,
		"b_test.yaml": `policy: [shop.yaml]
cases:
  - {name: stranger reads, input: {resource: order, action: read, owner: ann, user: bob}, decision: deny}
`,
	})
	// uncovered is what the test checks of an uncovered rule.
	type uncovered struct {
		id, file     string
		line, column int
		reason       string
	}
	rule := func(id string, line int, reason string) uncovered {
		return uncovered{id, filepath.Join(dir, "shop.yaml"), line, 9, reason}
	}
	tests := []struct {
		name      string
		run       string
		covered   int
		uncovered []uncovered
		skipped   int
	}{
		{"every case", "", 2, []uncovered{rule("owners-read", 16, ReasonConditionNeverHeld), rule("average", 27, ReasonNotReached)}, 0},
		{"the admin only", "^admin$", 1, []uncovered{rule("owners-read", 16, ReasonNotReached), rule("nobody-else", 20, ReasonNotReached), rule("average", 27, ReasonNotReached)}, 2},
		{"strangers", "stranger", 1, []uncovered{rule("admins", 10, ReasonConditionNeverHeld), rule("owners-read", 16, ReasonConditionNeverHeld), rule("average", 27, ReasonNotReached)}, 1},
		{"writes", "writes", 1, []uncovered{rule("admins", 10, ReasonConditionNeverHeld), rule("owners-read", 16, ReasonTargetNeverHeld), rule("average", 27, ReasonNotReached)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Coverage: true}
			if tt.run != "" {
				opts.Run = regexp.MustCompile(tt.run)
			}
			rep, err := Run([]string{dir}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed != 0 || rep.Skipped != tt.skipped {
				t.Fatalf("failed %d, skipped %d: %+v", rep.Failed, rep.Skipped, rep.Cases)
			}
			cov := rep.Coverage
			if cov == nil || len(cov.Documents) != 1 {
				t.Fatalf("coverage %+v", cov)
			}
			dc := cov.Documents[0]
			if cov.Rules != 4 || cov.Covered != tt.covered || dc.Rules != 4 || dc.Covered != tt.covered {
				t.Errorf("covered %d of %d (document %d of %d), want %d of 4", cov.Covered, cov.Rules, dc.Covered, dc.Rules, tt.covered)
			}
			if want := float64(tt.covered) * 25; cov.Percent != want || dc.Percent != want {
				t.Errorf("percent %v, %v, want %v", cov.Percent, dc.Percent, want)
			}
			if !reflect.DeepEqual(dc.Sources, []string{filepath.Join(dir, "shop.yaml")}) {
				t.Errorf("sources %q", dc.Sources)
			}
			var got []uncovered
			for _, u := range dc.Uncovered {
				got = append(got, uncovered{u.ID, u.File, u.Line, u.Column, u.Reason})
				if !strings.HasSuffix(u.Path, "| Rule "+u.ID) || !strings.HasPrefix(u.Where, "policySets[0].policies[") {
					t.Errorf("uncovered %+v", u)
				}
			}
			if !reflect.DeepEqual(got, tt.uncovered) {
				t.Errorf("uncovered:\n got %+v\nwant %+v", got, tt.uncovered)
			}
		})
	}

	// Without Coverage nothing is measured.
	rep, err := Run([]string{dir}, Options{})
	if err != nil || rep.Coverage != nil {
		t.Errorf("coverage without asking: %+v, %v", rep.Coverage, err)
	}
}

func TestPercent(t *testing.T) {
	for _, tt := range []struct {
		n, of int
		want  float64
	}{{0, 0, 100}, {0, 3, 0}, {1, 3, 33.3}, {2, 3, 66.7}, {3, 3, 100}, {1, 8, 12.5}, {999, 1000, 99.9}} {
		if got := percent(tt.n, tt.of); got != tt.want {
			t.Errorf("percent(%d, %d) = %v, want %v", tt.n, tt.of, got, tt.want)
		}
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a_test.yaml":             "",
		"b_test.json":             "",
		"c_test.yml":              "",
		"D_TEST.YAML":             "",
		"policy.yaml":             "",
		"notes_test.txt":          "",
		"sub/deep/e_test.yaml":    "",
		"testdata/f_test.yaml":    "",
		".hidden/g_test.yaml":     "",
		"_scratch/h_test.yaml":    "",
		"sub/.i_test.yaml":        "",
		"explicit/anything.yaml":  "",
		"explicit/testdata/j.yml": "",
		"empty/readme.md":         "",
	})
	rel := func(ps []string) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			r, err := filepath.Rel(dir, p)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = filepath.ToSlash(r)
		}
		return out
	}
	got, err := Find(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"D_TEST.YAML", "a_test.yaml", "b_test.json", "c_test.yml", "sub/deep/e_test.yaml"}; !reflect.DeepEqual(rel(got), want) {
		t.Errorf("Find(dir) = %q, want %q", rel(got), want)
	}

	// A file or a skipped directory named on the command line is taken;
	// a file found twice is listed once.
	got, err = Find(filepath.Join(dir, "explicit", "anything.yaml"), filepath.Join(dir, "testdata"), filepath.Join(dir, "a_test.yaml"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"explicit/anything.yaml", "testdata/f_test.yaml", "a_test.yaml", "D_TEST.YAML", "b_test.json", "c_test.yml", "sub/deep/e_test.yaml"}; !reflect.DeepEqual(rel(got), want) {
		t.Errorf("Find(explicit...) = %q, want %q", rel(got), want)
	}

	if _, err := Find(filepath.Join(dir, "empty")); !errors.Is(err, ErrNoTestFiles) {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := Find(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
	if _, err := Find(filepath.Join(dir, "notes_test.txt")); err == nil || !strings.Contains(err.Error(), ".yaml, .yml or .json") {
		t.Errorf("a text file: %v", err)
	}
}

func TestIsTestFileAgreesWithConfig(t *testing.T) {
	for _, name := range []string{"a_test.yaml", "a_test.yml", "a_test.json", "A_TEST.JSON", "a.yaml", "a.json", "test.yaml", "a_test.txt", "a_tests.yaml", "dir/x_test.yaml"} {
		policy := config.IsPolicyFile(name)
		test := IsTestFile(name)
		isData := strings.HasSuffix(strings.ToLower(name), ".yaml") || strings.HasSuffix(strings.ToLower(name), ".yml") || strings.HasSuffix(strings.ToLower(name), ".json")
		if isData && policy == test {
			t.Errorf("%s: policy file %v, test file %v: a data file is exactly one of them", name, policy, test)
		}
		if !isData && (policy || test) {
			t.Errorf("%s: policy file %v, test file %v", name, policy, test)
		}
	}
}
