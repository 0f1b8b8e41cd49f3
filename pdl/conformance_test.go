package pdl_test

// The language conformance corpus: every file under testdata/cases holds
// YAML cases that compile a policy document and check either the decisions
// it gives for some inputs or the load errors it reports. The expectations
// follow docs/language.md.
//
// A case file is
//
//	cases:
//	  - name: ...                  # unique within the file
//	    policy: <YAML value>       # the document; compiled as "<file>#<case>.json"
//	    policy_text: <string>      # or raw text, for positions in load errors
//	    policy_format: yaml|yml|json  # extension of the source name for policy_text
//	    sources: [{policy|policy_text, policy_format}]  # or several files, in order
//	    options: {known: [...], aliases: {...}, advice: [...]}
//	    input: <object>            # with want
//	    fail: [attr, ...]          # attributes whose lookup returns an error
//	    go_types: true             # pass whole numbers as Go ints and string lists as []string
//	    want: {decision, obligations, advice, path, error, unordered, trace_has, trace_lacks}
//	    inputs: [{name, input, fail, want}]  # several inputs against one document
//	    want_errors: [{message, path, line, column, file}]
//
// Decisions are checked through both Decide and Explain. Obligation and
// advice parameters are compared after a JSON round trip, so 1 and 1.0 agree.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/pdl"
)

const casesDir = "testdata/cases"

type caseFile struct {
	Cases []conformanceCase `yaml:"cases"`
}

type conformanceCase struct {
	Name         string       `yaml:"name"`
	Description  string       `yaml:"description"`
	Policy       yaml.Node    `yaml:"policy"`
	PolicyText   *string      `yaml:"policy_text"`
	PolicyFormat string       `yaml:"policy_format"`
	Sources      []caseSource `yaml:"sources"`
	Options      *caseOptions `yaml:"options"`
	Input        yaml.Node    `yaml:"input"`
	Fail         []string     `yaml:"fail"`
	GoTypes      bool         `yaml:"go_types"`
	Want         *caseWant    `yaml:"want"`
	Inputs       []caseInput  `yaml:"inputs"`
	WantErrors   []wantError  `yaml:"want_errors"`
}

type caseSource struct {
	Policy       yaml.Node `yaml:"policy"`
	PolicyText   *string   `yaml:"policy_text"`
	PolicyFormat string    `yaml:"policy_format"`
}

type caseOptions struct {
	Known   []string          `yaml:"known"`
	Aliases map[string]string `yaml:"aliases"`
	Advice  *[]string         `yaml:"advice"`
}

type caseInput struct {
	Name  string    `yaml:"name"`
	Input yaml.Node `yaml:"input"`
	Fail  []string  `yaml:"fail"`
	Want  *caseWant `yaml:"want"`
}

type caseWant struct {
	Decision    string     `yaml:"decision"`
	Obligations yaml.Node  `yaml:"obligations"`
	Advice      yaml.Node  `yaml:"advice"`
	Path        *string    `yaml:"path"`
	Error       string     `yaml:"error"`
	Unordered   bool       `yaml:"unordered"`
	TraceHas    []wantStep `yaml:"trace_has"`
	TraceLacks  []wantStep `yaml:"trace_lacks"`
}

// wantStep matches an explanation step on the fields it sets.
type wantStep struct {
	Path      *string `yaml:"path"`
	Kind      string  `yaml:"kind"`
	Attribute string  `yaml:"attribute"`
	Operator  string  `yaml:"operator"`
	Result    string  `yaml:"result"`
}

type wantError struct {
	Message string  `yaml:"message"`
	Path    *string `yaml:"path"`
	Line    int     `yaml:"line"`
	Column  int     `yaml:"column"`
	// File is the index of the source (for sources:) the problem must name.
	File *int `yaml:"file"`
}

func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(casesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no case files in %s", casesDir)
	}
	total := 0
	for _, file := range files {
		cases := loadCaseFile(t, file)
		total += len(cases)
		base := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(base, func(t *testing.T) {
			for i := range cases {
				c := &cases[i]
				t.Run(c.Name, func(t *testing.T) { runCase(t, base, c) })
			}
		})
	}
	t.Logf("%d cases in %d files", total, len(files))
}

func loadCaseFile(t *testing.T, file string) []conformanceCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cf caseFile
	if err := dec.Decode(&cf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("%s: more than one YAML document", file)
	}
	seen := map[string]bool{}
	for i, c := range cf.Cases {
		where := fmt.Sprintf("%s: case %d (%q)", file, i, c.Name)
		if c.Name == "" {
			t.Fatalf("%s: no name", where)
		}
		if seen[c.Name] {
			t.Fatalf("%s: duplicate name", where)
		}
		seen[c.Name] = true
		forms := 0
		if present(&c.Policy) {
			forms++
		}
		if c.PolicyText != nil {
			forms++
		}
		if len(c.Sources) > 0 {
			forms++
		}
		if forms != 1 {
			t.Fatalf("%s: want exactly one of policy, policy_text, sources", where)
		}
		if c.PolicyFormat != "" && c.PolicyText == nil {
			t.Fatalf("%s: policy_format applies to policy_text only", where)
		}
		checks := 0
		if c.Want != nil {
			checks++
		}
		if len(c.Inputs) > 0 {
			checks++
		}
		if len(c.WantErrors) > 0 {
			checks++
		}
		if checks != 1 {
			t.Fatalf("%s: want exactly one of want, inputs, want_errors", where)
		}
		if (present(&c.Input) || len(c.Fail) > 0) && c.Want == nil {
			t.Fatalf("%s: input without want", where)
		}
		for j, in := range c.Inputs {
			if in.Want == nil {
				t.Fatalf("%s: inputs[%d] without want", where, j)
			}
		}
	}
	return cf.Cases
}

func runCase(t *testing.T, file string, c *conformanceCase) {
	srcs := caseSources(t, file, c)
	doc, err := pdl.Compile(caseCompileOptions(c.Options), srcs...)

	if len(c.WantErrors) > 0 {
		checkLoadErrors(t, srcs, err, c.WantErrors)
		return
	}
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if doc == nil {
		t.Fatal("compile: nil document without error")
	}
	if c.Want != nil {
		checkDecision(t, doc, caseAttributes(t, &c.Input, c.Fail, c.GoTypes), c.Want)
		return
	}
	for i := range c.Inputs {
		in := &c.Inputs[i]
		name := in.Name
		if name == "" {
			name = fmt.Sprintf("input %d", i+1)
		}
		t.Run(name, func(t *testing.T) { checkDecision(t, doc, caseAttributes(t, &in.Input, in.Fail, c.GoTypes), in.Want) })
	}
}

func caseSources(t *testing.T, file string, c *conformanceCase) []pdl.Source {
	t.Helper()
	base := file + "#" + c.Name
	if len(c.Sources) == 0 {
		return []pdl.Source{makeSource(t, base, &c.Policy, c.PolicyText, c.PolicyFormat)}
	}
	srcs := make([]pdl.Source, len(c.Sources))
	for i, s := range c.Sources {
		if present(&s.Policy) == (s.PolicyText != nil) {
			t.Fatalf("sources[%d]: want exactly one of policy, policy_text", i)
		}
		srcs[i] = makeSource(t, fmt.Sprintf("%s.%d", base, i+1), &s.Policy, s.PolicyText, s.PolicyFormat)
	}
	return srcs
}

func makeSource(t *testing.T, name string, policy *yaml.Node, text *string, format string) pdl.Source {
	t.Helper()
	if present(policy) {
		data, err := nodeJSON(policy, "", true)
		if err != nil {
			t.Fatalf("policy: %v", err)
		}
		return pdl.Source{Name: name + ".json", Data: data}
	}
	switch format {
	case "":
	case "yaml", "yml", "json":
		name += "." + format
	default:
		t.Fatalf("unknown policy_format %q", format)
	}
	return pdl.Source{Name: name, Data: []byte(*text)}
}

func caseCompileOptions(o *caseOptions) pdl.Options {
	var opts pdl.Options
	if o == nil {
		return opts
	}
	if o.Known != nil {
		known := map[string]bool{}
		for _, k := range o.Known {
			known[k] = true
		}
		opts.Known = func(name string) bool { return known[name] }
	}
	opts.Aliases = o.Aliases
	if o.Advice != nil {
		opts.Advice = append([]string{}, (*o.Advice)...)
	}
	return opts
}

// failingInput is an Input whose listed attributes cannot be computed.
type failingInput struct {
	pdl.Input
	fail map[string]bool
}

func (f failingInput) Attribute(name string) (any, error) {
	if f.fail[name] {
		return nil, fmt.Errorf("attribute %s unavailable", name)
	}
	return f.Input.Attribute(name)
}

func caseAttributes(t *testing.T, input *yaml.Node, fail []string, goTypes bool) pdl.Attributes {
	t.Helper()
	in := pdl.Input{}
	if present(input) {
		v, err := nodeValue(input)
		if err != nil {
			t.Fatalf("input: %v", err)
		}
		switch m := v.(type) {
		case nil:
		case map[string]any:
			if goTypes {
				m = goValue(m).(map[string]any)
			}
			in = pdl.Input(m)
		default:
			t.Fatalf("input: want an object, got %T", v)
		}
	}
	if len(fail) == 0 {
		return in
	}
	f := failingInput{Input: in, fail: map[string]bool{}}
	for _, name := range fail {
		f.fail[name] = true
	}
	return f
}

func checkDecision(t *testing.T, doc *pdl.Document, attrs pdl.Attributes, want *caseWant) {
	t.Helper()
	var wantEffect pdl.Effect
	if err := wantEffect.UnmarshalText([]byte(want.Decision)); err != nil {
		t.Fatalf("want.decision: %v", err)
	}
	var wantObl, wantAdv []any
	if present(&want.Obligations) {
		wantObl = wantList(t, "want.obligations", &want.Obligations, want.Unordered)
	}
	if present(&want.Advice) {
		wantAdv = wantList(t, "want.advice", &want.Advice, want.Unordered)
	}

	got := doc.Decide(attrs)
	gotJSON, _ := json.Marshal(got)
	t.Logf("decide: %s", gotJSON)
	if got.Trace != nil {
		t.Errorf("Decide returned a trace of %d steps; only Explain fills it", len(got.Trace))
	}
	if got.Effect != wantEffect {
		t.Errorf("decision = %v, want %v (error %q)", got.Effect, wantEffect, got.Error)
	}
	if wantEffect == pdl.Indeterminate {
		if got.Error == "" {
			t.Errorf("indeterminate decision without error")
		}
		if want.Error != "" && !strings.Contains(got.Error, want.Error) {
			t.Errorf("error = %q, want it to contain %q", got.Error, want.Error)
		}
	} else if got.Effect != pdl.Indeterminate && got.Error != "" {
		t.Errorf("error = %q on a %v decision", got.Error, got.Effect)
	}
	if want.Path != nil && got.Path != *want.Path {
		t.Errorf("path = %q, want %q", got.Path, *want.Path)
	}
	if present(&want.Obligations) {
		compareObligations(t, "obligations", got.Obligations, wantObl, want.Unordered)
	}
	if present(&want.Advice) {
		compareObligations(t, "advice", got.Advice, wantAdv, want.Unordered)
	}

	exp := doc.Explain(attrs)
	if exp.Effect != got.Effect || exp.Path != got.Path || exp.Error != got.Error {
		t.Errorf("Explain gave %v %q %q, Decide gave %v %q %q",
			exp.Effect, exp.Path, exp.Error, got.Effect, got.Path, got.Error)
	}
	if !reflect.DeepEqual(normalize(exp.Obligations), normalize(got.Obligations)) ||
		!reflect.DeepEqual(normalize(exp.Advice), normalize(got.Advice)) {
		t.Errorf("Explain obligations/advice %v %v differ from Decide's %v %v",
			exp.Obligations, exp.Advice, got.Obligations, got.Advice)
	}
	if len(exp.Trace) == 0 {
		t.Errorf("Explain returned no trace")
	}
	for _, ws := range want.TraceHas {
		if !traceHas(exp.Trace, ws) {
			t.Errorf("trace has no step matching %s\ntrace:\n%s", ws, traceString(exp.Trace))
		}
	}
	for _, ws := range want.TraceLacks {
		if traceHas(exp.Trace, ws) {
			t.Errorf("trace has a step matching %s\ntrace:\n%s", ws, traceString(exp.Trace))
		}
	}
}

func (w wantStep) String() string {
	var parts []string
	if w.Path != nil {
		parts = append(parts, "path="+strconv.Quote(*w.Path))
	}
	for _, kv := range [][2]string{{"kind", w.Kind}, {"attribute", w.Attribute}, {"operator", w.Operator}, {"result", w.Result}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+strconv.Quote(kv[1]))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func traceHas(trace []pdl.Step, w wantStep) bool {
	for _, s := range trace {
		if (w.Path == nil || s.Path == *w.Path) &&
			(w.Kind == "" || s.Kind == w.Kind) &&
			(w.Attribute == "" || s.Attribute == w.Attribute) &&
			(w.Operator == "" || s.Operator == w.Operator) &&
			(w.Result == "" || s.Result == w.Result) {
			return true
		}
	}
	return false
}

func traceString(trace []pdl.Step) string {
	var b strings.Builder
	for _, s := range trace {
		line, _ := json.Marshal(s)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// wantList decodes a list of {name, params} and normalises it.
func wantList(t *testing.T, what string, n *yaml.Node, unordered bool) []any {
	t.Helper()
	v, err := nodeValue(n)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if v == nil {
		v = []any{}
	}
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%s: want a list, got %T", what, v)
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			t.Fatalf("%s[%d]: want {name, params}", what, i)
		}
		for k := range m {
			if k != "name" && k != "params" {
				t.Fatalf("%s[%d]: unknown field %q", what, i, k)
			}
		}
		if _, ok := m["params"]; !ok {
			m["params"] = nil
		}
	}
	if unordered {
		sortByName(list)
	}
	return list
}

func compareObligations(t *testing.T, what string, got []pdl.Obligation, want []any, unordered bool) {
	t.Helper()
	g := normalize(got)
	if unordered {
		sortByName(g)
	}
	if !reflect.DeepEqual(g, want) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(want)
		t.Errorf("%s = %s, want %s", what, gj, wj)
	}
}

// normalize round-trips obligations through JSON: []{name, params}.
func normalize(obls []pdl.Obligation) []any {
	out := []any{}
	if len(obls) == 0 {
		return out
	}
	data, err := json.Marshal(obls)
	if err != nil {
		return []any{fmt.Sprintf("unmarshalable obligations: %v", err)}
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return []any{err.Error()}
	}
	return out
}

func sortByName(list []any) {
	key := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	sort.SliceStable(list, func(i, j int) bool { return key(list[i]) < key(list[j]) })
}

func checkLoadErrors(t *testing.T, srcs []pdl.Source, err error, wants []wantError) {
	t.Helper()
	if err == nil {
		t.Fatalf("compile succeeded, want %d load error(s)", len(wants))
	}
	var le *pdl.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("compile error is %T, want *pdl.LoadError: %v", err, err)
	}
	t.Logf("load error:\n%v", le)
	if len(le.Problems) == 0 {
		t.Fatalf("LoadError without problems")
	}
	names := map[string]bool{}
	for _, s := range srcs {
		names[s.Name] = true
	}
	for _, p := range le.Problems {
		if !names[p.File] {
			t.Errorf("problem %q names file %q, not one of the sources", p.Error(), p.File)
		}
		if p.Message == "" {
			t.Errorf("problem %q has no message", p.Error())
		}
	}
	used := make([]bool, len(le.Problems))
	for _, w := range wants {
		found := -1
		for i, p := range le.Problems {
			if used[i] || !problemMatches(p, w, srcs) {
				continue
			}
			found = i
			break
		}
		if found < 0 {
			t.Errorf("no problem matches %s", w)
			continue
		}
		used[found] = true
	}
}

func problemMatches(p pdl.Problem, w wantError, srcs []pdl.Source) bool {
	if !strings.Contains(p.Message, w.Message) {
		return false
	}
	if w.Path != nil && p.Path != *w.Path {
		return false
	}
	if w.Line != 0 && p.Line != w.Line {
		return false
	}
	if w.Column != 0 && p.Column != w.Column {
		return false
	}
	if w.File != nil && (*w.File < 1 || *w.File > len(srcs) || p.File != srcs[*w.File-1].Name) {
		return false
	}
	return true
}

func (w wantError) String() string {
	var parts []string
	if w.Path != nil {
		parts = append(parts, "path="+strconv.Quote(*w.Path))
	}
	if w.Message != "" {
		parts = append(parts, "message~"+strconv.Quote(w.Message))
	}
	if w.Line != 0 {
		parts = append(parts, "line="+strconv.Itoa(w.Line))
	}
	if w.Column != 0 {
		parts = append(parts, "column="+strconv.Itoa(w.Column))
	}
	if w.File != nil {
		parts = append(parts, "file="+strconv.Itoa(*w.File))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// goValue gives v the other Go types an Attributes implementation may
// return: whole numbers become int or int64 (alternately by depth), lists of
// strings []string.
func goValue(v any) any {
	return goValueAt(v, 0)
}

func goValueAt(v any, depth int) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			if depth%2 == 0 {
				return int(x)
			}
			return int64(x)
		}
	case []any:
		strs := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				strs = append(strs, s)
			}
		}
		if len(x) > 0 && len(strs) == len(x) {
			return strs
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = goValueAt(e, depth+1)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = goValueAt(e, depth+1)
		}
		return out
	}
	return v
}

// present reports whether a YAML field was given at all.
func present(n *yaml.Node) bool { return n.Kind != 0 }

// nodeValue converts a YAML node to the value encoding/json would decode
// from the same document: map[string]any, []any, float64, string, bool, nil.
func nodeValue(n *yaml.Node) (any, error) {
	data, err := nodeJSON(n, "", false)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// nodeJSON renders a YAML node as JSON, keeping the order of mapping keys.
// With indent, every array element and object member gets its own line.
func nodeJSON(n *yaml.Node, prefix string, indent bool) ([]byte, error) {
	var b bytes.Buffer
	if err := writeNodeJSON(&b, n, prefix, indent); err != nil {
		return nil, err
	}
	if indent {
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func writeNodeJSON(b *bytes.Buffer, n *yaml.Node, prefix string, indent bool) error {
	nl := func(p string) {
		if indent {
			b.WriteByte('\n')
			b.WriteString(p)
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: empty document", n.Line)
		}
		return writeNodeJSON(b, n.Content[0], prefix, indent)
	case yaml.AliasNode:
		return writeNodeJSON(b, n.Alias, prefix, indent)
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(prefix + "  ")
			if err := writeNodeJSON(b, c, prefix+"  ", indent); err != nil {
				return err
			}
		}
		if len(n.Content) > 0 {
			nl(prefix)
		}
		b.WriteByte(']')
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if k.Value == "<<" && k.Tag == "!!merge" {
				return fmt.Errorf("line %d: merge keys are not supported", k.Line)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			nl(prefix + "  ")
			key, _ := json.Marshal(k.Value)
			b.Write(key)
			b.WriteString(": ")
			if err := writeNodeJSON(b, v, prefix+"  ", indent); err != nil {
				return err
			}
		}
		if len(n.Content) > 0 {
			nl(prefix)
		}
		b.WriteByte('}')
	case yaml.ScalarNode:
		var v any
		switch n.ShortTag() {
		case "!!str", "!!timestamp", "!!binary":
			v = n.Value
		default:
			if err := n.Decode(&v); err != nil {
				return fmt.Errorf("line %d: %v", n.Line, err)
			}
		}
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %v", n.Line, err)
		}
		b.Write(data)
	default:
		return fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	return nil
}
