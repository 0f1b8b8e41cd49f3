package pdltest

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pdl"
)

// problemTexts formats the problems of err without their file name, which
// the tests check separately.
func problemTexts(t *testing.T, err error, file string) []string {
	t.Helper()
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %T %v, want config.Problems", err, err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		s := p.Error()
		if file != "" {
			rest, ok := strings.CutPrefix(s, file)
			if !ok {
				t.Errorf("problem %q does not start with %s", s, file)
			}
			s = rest
		}
		out[i] = s
	}
	return out
}

func TestParseFileProblems(t *testing.T) {
	const head = "policy: p.yaml\ncases:\n"
	tests := []struct {
		name string
		file string // the file name: its extension does not matter
		text string
		want []string
	}{
		{"empty", "t_test.yaml", "", []string{": the test file is empty"}},
		{"yaml syntax", "t_test.yaml", "policy: [\n", []string{":1: syntax error: did not find expected node content"}},
		{"json syntax", "t_test.json", "{\"policy\": \"p.json\",\n \"cases\": [}\n", []string{":2:12: syntax error: invalid character '}' looking for beginning of value"}},
		{"json cut short", "t_test.json", "{\"policy\": \"p.json\",\n \"cases\": [", []string{":2:12: syntax error: unexpected end of JSON input"}},
		{"json with data after it", "t_test.JSON", "{\"policy\": \"p.json\"}\n{}", []string{":2:1: syntax error: data after the JSON object"}},
		{"two documents", "t_test.yaml", head + "  - {name: a, decision: deny}\n---\nx: 1\n", []string{":4:1: the file holds more than one YAML document"}},
		{"not a mapping", "t_test.yaml", "- a\n", []string{":1:1: must be a mapping, not a list"}},
		{"unknown field", "t_test.yaml", "polcy: p.yaml\n", []string{":1:1: polcy: unknown field (known: cases, config, description, document, policy, vocabulary)",
			":1:1: the document under test is missing: give policy (a policy file or directory, relative to this file) or document (the name of a document in a configuration)",
			":1:1: cases: a test file needs a list of cases"}},
		{"both policy and document", "t_test.yaml", "policy: p.yaml\ndocument: d\ncases: [{name: a, decision: deny}]\n",
			[]string{":2:1: document: give either policy (files under test) or document (a document of a configuration), not both"}},
		{"vocabulary without policy", "t_test.yaml", "document: d\nvocabulary: rethink\ncases: [{name: a, decision: deny}]\n",
			[]string{":2:1: vocabulary: applies to policy only: a document's vocabulary comes from its configuration"}},
		{"config without document", "t_test.yaml", "policy: p.yaml\nconfig: v.yaml\ncases: [{name: a, decision: deny}]\n",
			[]string{":2:1: config: applies to document only"}},
		{"unknown vocabulary", "t_test.yaml", "policy: p.yaml\nvocabulary: pexip\ncases: [{name: a, decision: deny}]\n",
			[]string{`:2:13: vocabulary: unknown vocabulary "pexip": known are rethink`}},
		{"policy not a string", "t_test.yaml", "policy: 3\ncases: [{name: a, decision: deny}]\n", []string{":1:9: policy: must be a string, not a number"}},
		{"empty policy list", "t_test.yaml", "policy: []\ncases: [{name: a, decision: deny}]\n", []string{":1:9: policy: must name at least one policy file or directory"}},
		{"bad policy list item", "t_test.yaml", "policy: [a.yaml, '', {}]\ncases: [{name: a, decision: deny}]\n",
			[]string{":1:18: policy[1]: must name a policy file or directory", ":1:22: policy[2]: must be a string, not a mapping"}},
		{"cases not a list", "t_test.yaml", "policy: p.yaml\ncases: {name: a}\n", []string{":2:8: cases: must be a list of cases, not a mapping"}},
		{"no cases", "t_test.yaml", "policy: p.yaml\ncases: []\n", []string{":2:8: cases: must hold at least one case"}},
		{"a case without name or decision", "t_test.yaml", head + "  - input: {a: 1}\n", []string{
			":3:5: cases[0].name: every case needs a name",
			":3:5: cases[0].decision: every case needs the decision it wants (permit, deny, not_applicable or indeterminate)"}},
		{"a case not a mapping", "t_test.yaml", head + "  - just words\n", []string{":3:5: cases[0]: must be a mapping, not a string"}},
		{"a blank name", "t_test.yaml", head + "  - {name: ' ', decision: deny}\n", []string{":3:12: cases[0].name: must not be empty"}},
		{"a name given twice", "t_test.yaml", head + "  - {name: a, decision: deny}\n  - {name: b, decision: deny}\n  - {name: a, decision: permit}\n",
			[]string{`:5:5: cases[2].name: the case name "a" is given twice (first on line 3)`}},
		{"an unknown decision", "t_test.yaml", head + "  - name: a\n    decision: allow\n",
			[]string{`:4:15: cases[0].decision: unknown decision "allow": want permit, deny, not_applicable or indeterminate`}},
		{"an unknown case field", "t_test.yaml", head + "  - name: a\n    decision: deny\n    obligation: {}\n",
			[]string{":5:5: cases[0].obligation: unknown field (known: advice, advice_include, decision, description, error, input, name, obligations, obligations_include, path, path_prefix)"}},
		{"a key given twice", "t_test.yaml", head + "  - name: a\n    decision: deny\n    name: b\n", []string{":5:5: cases[0].name: given twice (first on line 3)"}},
		{"path and path_prefix", "t_test.yaml", head + "  - {name: a, decision: deny, path: x, path_prefix: y}\n",
			[]string{":3:40: cases[0].path_prefix: give either path or path_prefix, not both"}},
		{"obligations both ways", "t_test.yaml", head + "  - name: a\n    decision: deny\n    obligations: []\n    obligations_include: []\n",
			[]string{":6:5: cases[0].obligations_include: give either obligations or obligations_include, not both"}},
		{"advice both ways", "t_test.yaml", head + "  - name: a\n    decision: deny\n    advice_include: []\n    advice: []\n",
			[]string{":5:5: cases[0].advice_include: give either advice or advice_include, not both"}},
		{"an exact obligation without params", "t_test.yaml", head + "  - name: a\n    decision: deny\n    obligations: [{name: x}]\n",
			[]string{":5:19: cases[0].obligations[0].params: obligations lists every obligation with its params (in obligations_include, one without params matches any)"}},
		{"an obligation without name", "t_test.yaml", head + "  - name: a\n    decision: deny\n    advice_include: [{params: 1}]\n",
			[]string{":5:22: cases[0].advice_include[0].name: every obligation needs a name"}},
		{"an obligation not a mapping", "t_test.yaml", head + "  - name: a\n    decision: deny\n    obligations: [x]\n",
			[]string{":5:19: cases[0].obligations[0]: must be a mapping, not a string"}},
		{"obligations neither list nor mapping", "t_test.yaml", head + "  - name: a\n    decision: deny\n    obligations: 3\n",
			[]string{":5:18: cases[0].obligations: must be a list of {name, params} or a mapping of name to params, not a number"}},
		{"an unknown obligation field", "t_test.yaml", head + "  - name: a\n    decision: deny\n    obligations: [{name: x, params: 1, parms: 2}]\n",
			[]string{":5:40: cases[0].obligations[0].parms: unknown field (known: name, params)"}},
		{"error on a decided case", "t_test.yaml", head + "  - {name: a, decision: deny, error: x}\n",
			[]string{":3:31: cases[0].error: applies to an indeterminate decision only"}},
		{"input not a mapping", "t_test.yaml", head + "  - {name: a, decision: deny, input: [1]}\n", []string{":3:38: cases[0].input: must be a mapping, not a list"}},
		{"an infinite number", "t_test.yaml", head + "  - {name: a, decision: deny, input: {x: .inf}}\n",
			[]string{`:3:42: cases[0].input.x: ".inf" is not a number JSON can hold`}},
		{"a nested key given twice", "t_test.yaml", head + "  - {name: a, decision: deny, input: {x: {y: 1, y: 2}}}\n",
			[]string{":3:49: cases[0].input.x.y: given twice (first on line 3)"}},
		{"a merge key", "t_test.yaml", "base: &b {x: 1}\n", []string{":1:1: base: unknown field (known: cases, config, description, document, policy, vocabulary)",
			":1:1: the document under test is missing: give policy (a policy file or directory, relative to this file) or document (the name of a document in a configuration)",
			":1:1: cases: a test file needs a list of cases"}},
		{"a merge key in input", "t_test.yaml", head + "  - name: a\n    decision: deny\n    input: {<<: {x: 1}}\n", []string{":5:13: cases[0].input: keys must be plain names"}},
		{"alias expansion", "t_test.yaml", head + aliasBomb, []string{"cases[0].input.f[0][6][8][8][8][9]: too large or too deeply nested (at most 200000 values, 200 levels)"}},
		{"deep nesting", "t_test.yaml", head + "  - name: a\n    decision: deny\n    input: {x: " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "}\n",
			[]string{"cases[0].input.x" + strings.Repeat("[0]", 201) + ": too large or too deeply nested"}},
		{"problems in several cases at once", "t_test.json", `{"policy": "p.json", "cases": [
  {"name": "a", "decision": "maybe"},
  {"name": "b", "decision": "deny", "path": 7}
]}`, []string{`:2:29: cases[0].decision: unknown decision "maybe": want permit, deny, not_applicable or indeterminate`,
			":3:45: cases[1].path: must be a string, not a number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile(tt.file, []byte(tt.text))
			if err == nil {
				t.Fatalf("no error")
			}
			got := problemTexts(t, err, tt.file)
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// aliasBomb expands to 10^7 values through nested aliases.
var aliasBomb = `  - name: a
    decision: deny
    input:
      a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
      x: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
`

func TestParseFile(t *testing.T) {
	text := `# a comment
description: the shop
policy: [p.yaml, ../shared/q.yaml]
vocabulary: rethink
cases:
  - name: everything
    description: every field
    input:
      n: 3
      f: 1.5
      s: text
      d: 2024-05-01
      b: true
      z: null
      l: [1, two]
      m: {k: v}
      alias: &v {deep: [x]}
      again: *v
    decision: permit
    path: PolicySet 1 | Policy 1 | Rule 1
    obligations: {one: 1, two: {a: b}}
    advice_include: [{name: info}, {name: note, params: {x: 1}}]
  - {name: an indeterminate one, decision: indeterminate, error: divided, path_prefix: PolicySet 2, obligations_include: {x: 2}, advice: []}
`
	f, err := ParseFile(filepath.Join("dir", "t_test.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if f.Description != "the shop" || f.Vocabulary != "rethink" || f.Document != "" || f.Config != "" {
		t.Errorf("file %+v", f)
	}
	if want := []string{filepath.Join("dir", "p.yaml"), filepath.Join("shared", "q.yaml")}; !reflect.DeepEqual(f.Policy, want) {
		t.Errorf("policy %q, want %q", f.Policy, want)
	}
	if len(f.Cases) != 2 {
		t.Fatalf("%d cases", len(f.Cases))
	}
	c := f.Cases[0]
	wantInput := pdl.Input{"n": 3.0, "f": 1.5, "s": "text", "d": "2024-05-01", "b": true, "z": nil,
		"l": []any{1.0, "two"}, "m": map[string]any{"k": "v"},
		"alias": map[string]any{"deep": []any{"x"}}, "again": map[string]any{"deep": []any{"x"}}}
	if !reflect.DeepEqual(c.Input, wantInput) {
		t.Errorf("input %#v", c.Input)
	}
	if c.Name != "everything" || c.Description != "every field" || c.Line != 6 || c.Column != 5 || c.Decision != pdl.Permit ||
		c.Path == nil || *c.Path != "PolicySet 1 | Policy 1 | Rule 1" || c.PathPrefix != nil || c.Error != nil {
		t.Errorf("case %+v", c)
	}
	if want := (&Expected{Items: []ExpectedObligation{{Name: "one", Params: 1.0}, {Name: "two", Params: map[string]any{"a": "b"}}}}); !reflect.DeepEqual(c.Obligations, want) {
		t.Errorf("obligations %+v", c.Obligations)
	}
	if want := (&Expected{Include: true, Items: []ExpectedObligation{{Name: "info", AnyParams: true}, {Name: "note", Params: map[string]any{"x": 1.0}}}}); !reflect.DeepEqual(c.Advice, want) {
		t.Errorf("advice %+v", c.Advice)
	}
	c = f.Cases[1]
	if c.Decision != pdl.Indeterminate || c.Error == nil || *c.Error != "divided" || c.PathPrefix == nil || *c.PathPrefix != "PolicySet 2" ||
		len(c.Input) != 0 || !reflect.DeepEqual(c.Advice, &Expected{Items: []ExpectedObligation{}}) ||
		!reflect.DeepEqual(c.Obligations, &Expected{Include: true, Items: []ExpectedObligation{{Name: "x", Params: 2.0}}}) {
		t.Errorf("case %+v", c)
	}

	f, err = ParseFile("t_test.json", []byte("\ufeff"+`{"document": "api", "config": "/etc/verdict/verdict.yaml", "cases": [{"name": "x", "decision": "not_applicable", "input": {"a.b": [1]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Document != "api" || f.Config != filepath.FromSlash("/etc/verdict/verdict.yaml") || f.Cases[0].Decision != pdl.NotApplicable ||
		!reflect.DeepEqual(f.Cases[0].Input, pdl.Input{"a.b": []any{1.0}}) {
		t.Errorf("json file %+v", f)
	}
}

func TestRunProblems(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"shop.yaml":    shopPolicy,
		"broken.json":  "[{\"effect\": \"maybe\"},\n {\"condition\": {\"x\": {\"nope\": 1}}, \"effect\": \"deny\"}]\n",
		"verdict.yaml": "policies:\n  shop: shop.yaml\n  messages: {path: msgs.json, vocabulary: rethink}\n",
		"msgs.json":    `[{"target": {"msgType": {"equals": "registration"}}, "effect": "deny"}]`,
		"bad.yaml":     "listen: {policy: nowhere}\n",
	})
	cases := map[string]string{
		"missing_test.yaml":      "policy: nothing.yaml\ncases: [{name: a, decision: deny}]\n",
		"broken_test.yaml":       "policy: broken.json\ncases: [{name: a, decision: deny}]\n",
		"broken_again_test.yaml": "description: the same broken document\npolicy: broken.json\ncases: [{name: a, decision: deny}]\n",
		"noconfig_test.yaml":     "document: shop\ncases: [{name: a, decision: not_applicable}]\n",
		"nodoc_test.yaml":        "config: verdict.yaml\ndocument: shops\ncases: [{name: a, decision: deny}]\n",
		"badconfig_test.yaml":    "config: bad.yaml\ndocument: shop\ncases: [{name: a, decision: deny}]\n",
		"vocab_test.yaml":        "config: verdict.yaml\ndocument: messages\ncases:\n  - name: a\n    input: {msgType: registration, msgTyp: x, valueAllocate: 1}\n    decision: deny\n",
		"syntax_test.yaml":       "cases: [\n",
	}
	tests := []struct {
		name, file string
		config     string
		want       []string
	}{
		{"a missing policy file", "missing_test.yaml", "", []string{"missing_test.yaml:1:1: policy: policy path: stat " + filepath.Join(dir, "nothing.yaml") + ""}},
		{"a policy that does not load", "broken_test.yaml", "", []string{
			"broken_test.yaml:1:1: policy: the document does not load:",
			"broken.json:1:13: policySets[0].policies[0].rules[0].effect: unknown effect \"maybe\": must be \"permit\" or \"deny\"",
			"broken.json:2:23: policySets[0].policies[0].rules[1].condition.x.nope: unknown operator"}},
		{"a document named without a configuration", "noconfig_test.yaml", "", []string{
			`noconfig_test.yaml:1:1: document: no configuration to find "shop" in: give config in the test file, or --config`}},
		{"a document named with the default configuration", "noconfig_test.yaml", "verdict.yaml", nil},
		{"an unknown document", "nodoc_test.yaml", "", []string{
			`nodoc_test.yaml:2:1: document: configuration ` + filepath.Join(dir, "verdict.yaml") + ` has no document "shops" (it has messages, shop)`}},
		{"a configuration that does not load", "badconfig_test.yaml", "", []string{
			"badconfig_test.yaml:2:1: document: configuration " + filepath.Join(dir, "bad.yaml") + " does not load",
			"bad.yaml:1:18: listen.policy: address \"nowhere\" is not host:port"}},
		{"an attribute outside the vocabulary", "vocab_test.yaml", "", []string{
			`vocab_test.yaml:5:36: cases[0].input.msgTyp: "msgTyp" is not an attribute of the rethink vocabulary`}},
		{"a syntax error", "syntax_test.yaml", "", []string{"syntax_test.yaml:1: syntax error"}},
	}
	writeFiles(t, dir, cases)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			opts := Options{}
			if tt.config != "" {
				opts.Config = filepath.Join(dir, tt.config)
			}
			rep, err := RunFiles([]string{p}, opts)
			if tt.want == nil {
				if err != nil || rep.Passed != 1 {
					t.Fatalf("run: %v, %+v", err, rep)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; report %+v", rep)
			}
			got := problemTexts(t, err, "")
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
		})
	}

	// Every file's problems come at once, and a broken document shared by
	// two files is reported once.
	_, err := RunFiles([]string{filepath.Join(dir, "broken_test.yaml"), filepath.Join(dir, "broken_again_test.yaml"), filepath.Join(dir, "syntax_test.yaml")}, Options{})
	got := problemTexts(t, err, "")
	want := []string{"broken_test.yaml:1:1: policy: the document does not load:", "broken.json:1:13:", "broken.json:2:23:",
		"broken_again_test.yaml:2:1: policy: the document does not load (its problems are listed above)"}
	if len(got) != len(want)+1 {
		t.Fatalf("problems:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(got[0], "syntax_test.yaml:1: syntax error") {
		t.Errorf("first problem %s", got[0])
	}
	for i, w := range want {
		if !strings.Contains(got[i+1], w) {
			t.Errorf("problem %d: %s, want %s", i+1, got[i+1], w)
		}
	}
}
