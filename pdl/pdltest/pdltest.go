// Package pdltest runs test files of policy documents, the way `opa test`
// runs Rego tests. A test file (*_test.yaml, *_test.yml or *_test.json,
// usually beside the policies) names the document under test and lists
// cases: input attributes and the decision, deciding path, obligations and
// advice wanted. A run decides every case, reports each with what differs,
// and measures which rules no case fires.
//
// Documents are read and compiled as the config package reads them for the
// server, so a test sees what the server serves; front doors that compute
// attributes (Pexip aliases, reTHINK messages, proxied requests) are not
// involved: a case gives the attributes themselves. `verdict test` is the
// command line of this package.
package pdltest

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pdl"
)

// Options adjust a run.
type Options struct {
	// Run, when set, runs only the cases whose name it matches; the
	// others count as skipped.
	Run *regexp.Regexp
	// Config is the configuration file in which the test files that name a
	// document without a config of their own look it up.
	Config string
	// Explain keeps the explanation trace of every failing case.
	Explain bool
	// Coverage measures which rules the cases fire.
	Coverage bool
}

// Report is the outcome of a run. Its JSON form is what
// `verdict test --format json` prints; docs/testing.md documents it.
type Report struct {
	// Files lists the test files run, in order.
	Files []string `json:"files"`
	// Passed, Failed and Skipped count the cases; skipped ones did not
	// match Options.Run.
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// Cases holds every case run, file by file, in file order.
	Cases []CaseResult `json:"cases"`
	// Coverage is set when Options.Coverage asked for it.
	Coverage *Coverage `json:"coverage,omitempty"`
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	// File, Line and Column locate the case.
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Name   string `json:"name"`
	// Status is "pass" or "fail".
	Status string `json:"status"`
	// Decision is what the document decided; its trace is kept for
	// failing cases when Options.Explain asks for it.
	Decision pdl.Decision `json:"decision"`
	// Mismatches say how the decision differs from the case; empty when
	// the case passes.
	Mismatches []Mismatch `json:"mismatches"`
}

// MarshalJSON writes the case as documented, with its decision in the
// decision API's shape but without escaping <, > and &, which attribute
// references and templates hold.
func (c CaseResult) MarshalJSON() ([]byte, error) {
	return marshal(struct {
		File       string       `json:"file"`
		Line       int          `json:"line"`
		Column     int          `json:"column"`
		Name       string       `json:"name"`
		Status     string       `json:"status"`
		Decision   decisionJSON `json:"decision"`
		Mismatches []Mismatch   `json:"mismatches"`
	}{c.File, c.Line, c.Column, c.Name, c.Status, decisionOf(c.Decision), c.Mismatches})
}

// decisionJSON is pdl.Decision as JSON, with the same names.
type decisionJSON struct {
	Decision    pdl.Effect       `json:"decision"`
	Obligations []pdl.Obligation `json:"obligations"`
	Advice      []pdl.Obligation `json:"advice"`
	Path        string           `json:"path"`
	Error       string           `json:"error,omitempty"`
	Trace       []pdl.Step       `json:"trace,omitempty"`
}

func decisionOf(d pdl.Decision) decisionJSON {
	out := decisionJSON{Decision: d.Effect, Obligations: d.Obligations, Advice: d.Advice, Path: d.Path, Error: d.Error, Trace: d.Trace}
	if out.Obligations == nil {
		out.Obligations = []pdl.Obligation{}
	}
	if out.Advice == nil {
		out.Advice = []pdl.Obligation{}
	}
	return out
}

// Passed reports whether the case passed.
func (c *CaseResult) Passed() bool { return c.Status == StatusPass }

// The values of CaseResult.Status.
const (
	StatusPass = "pass"
	StatusFail = "fail"
)

// Coverage tells, over every document tested, how many rules the cases
// fire and which they never do. A rule counts as covered when in at least
// one case its target and condition held, so that it gave its effect.
type Coverage struct {
	Rules   int `json:"rules"`
	Covered int `json:"covered"`
	// Percent is Covered of Rules, rounded to one decimal; 100 when
	// there is no rule.
	Percent   float64            `json:"percent"`
	Documents []DocumentCoverage `json:"documents"`
}

// DocumentCoverage is the coverage of one document.
type DocumentCoverage struct {
	// Sources are the policy files the document was compiled from.
	Sources []string `json:"sources"`
	// Vocabulary is the attribute vocabulary it was compiled with, or "".
	Vocabulary string  `json:"vocabulary"`
	Rules      int     `json:"rules"`
	Covered    int     `json:"covered"`
	Percent    float64 `json:"percent"`
	// Uncovered lists the rules no case fired, by file and line.
	Uncovered []UncoveredRule `json:"uncovered"`
}

// UncoveredRule is a rule no case fired, and how far the cases got.
type UncoveredRule struct {
	pdl.RuleInfo
	// Reason is one of ReasonNotReached, ReasonTargetNeverHeld and
	// ReasonConditionNeverHeld.
	Reason string `json:"reason"`
}

// The values of UncoveredRule.Reason, from the least to the most
// exercised.
const (
	// ReasonNotReached: no case evaluated the rule's target, because an
	// enclosing target never held, the index ruled it out, or earlier
	// rules always settled the combination.
	ReasonNotReached = "not_reached"
	// ReasonTargetNeverHeld: the rule was reached, but its target never held.
	ReasonTargetNeverHeld = "target_never_held"
	// ReasonConditionNeverHeld: its target held, but its condition never did.
	ReasonConditionNeverHeld = "condition_never_held"
)

// Run finds the test files under paths (see Find), runs them and reports.
// Problems with a test file, a document it names or a configuration are
// returned together as config.Problems, and no case runs; ErrNoTestFiles
// says there was nothing to run.
func Run(paths []string, opts Options) (*Report, error) {
	files, err := Find(paths...)
	if err != nil {
		return nil, err
	}
	return RunFiles(files, opts)
}

// RunFiles runs the given test files, as Run does.
func RunFiles(files []string, opts Options) (*Report, error) {
	if len(files) == 0 {
		return nil, ErrNoTestFiles
	}
	var problems config.Problems
	tests := make([]*File, 0, len(files))
	for _, name := range files {
		f, err := LoadFile(name)
		if err != nil {
			problems = appendProblems(problems, name, err)
			continue
		}
		tests = append(tests, f)
	}
	docs := &documents{byKey: map[string]*document{}, configs: map[string]*loadedConfig{}, defaultConfig: opts.Config}
	under := make([]*document, len(tests))
	for i, f := range tests {
		d, ps := docs.of(f)
		problems = append(problems, ps...)
		if d != nil {
			problems = append(problems, d.checkInputs(f)...)
			under[i] = d
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}

	rep := &Report{Files: make([]string, len(tests)), Cases: []CaseResult{}}
	for i, f := range tests {
		rep.Files[i] = f.Path
		d := under[i]
		for ci := range f.Cases {
			c := &f.Cases[ci]
			if opts.Run != nil && !opts.Run.MatchString(c.Name) {
				rep.Skipped++
				continue
			}
			rep.Cases = append(rep.Cases, d.run(c, f.Path, opts))
			if rep.Cases[len(rep.Cases)-1].Passed() {
				rep.Passed++
			} else {
				rep.Failed++
			}
		}
	}
	if opts.Coverage {
		rep.Coverage = docs.coverage()
	}
	return rep, nil
}

// appendProblems adds err to ps: its problems when it lists some, else one
// problem naming file.
func appendProblems(ps config.Problems, file string, err error) config.Problems {
	var list config.Problems
	if errors.As(err, &list) {
		return append(ps, list...)
	}
	var le *pdl.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			ps = append(ps, p)
		}
		return ps
	}
	return append(ps, config.Problem{File: file, Message: err.Error()})
}

// document is one compiled document under test, shared by every test file
// that names the same sources with the same vocabulary.
type document struct {
	sources    []string
	vocabulary string
	opts       pdl.Options
	doc        *pdl.Document
	cov        *pdl.Coverage
	// failed says it did not load, which its first test file reported.
	failed bool
}

// run decides one case and checks the decision.
func (d *document) run(c *Case, file string, opts Options) CaseResult {
	dec := d.doc.Decide(c.Input)
	var trace []pdl.Step
	if opts.Coverage {
		trace = d.cov.Explain(c.Input).Trace
	}
	res := CaseResult{File: file, Line: c.Line, Column: c.Column, Name: c.Name, Status: StatusPass, Decision: dec, Mismatches: check(c, dec)}
	if len(res.Mismatches) == 0 {
		res.Mismatches = []Mismatch{}
		return res
	}
	res.Status = StatusFail
	if opts.Explain {
		if trace == nil {
			trace = d.doc.Explain(c.Input).Trace
		}
		res.Decision.Trace = trace
	}
	return res
}

// checkInputs reports the input attributes of f's cases that the
// document's vocabulary does not know, as a misspelt name would otherwise
// read as a missing attribute.
func (d *document) checkInputs(f *File) config.Problems {
	if d.opts.Known == nil {
		return nil
	}
	var ps config.Problems
	for i, c := range f.Cases {
		for _, k := range c.inputKeys {
			if _, alias := d.opts.Aliases[k.name]; alias || d.opts.Known(k.name) {
				continue
			}
			ps = append(ps, config.Problem{File: f.Path, Line: k.line, Column: k.column,
				Field:   fmt.Sprintf("cases[%d].input.%s", i, k.name),
				Message: fmt.Sprintf("%q is not an attribute of the %s vocabulary", k.name, d.vocabulary)})
		}
	}
	return ps
}

// documents compiles each document once and remembers the configurations
// read to find documents by name.
type documents struct {
	byKey         map[string]*document
	order         []*document
	configs       map[string]*loadedConfig
	defaultConfig string
}

type loadedConfig struct {
	cfg *config.Config
	err error
}

// of returns the document f tests, or the problems that keep it from
// loading.
func (ds *documents) of(f *File) (*document, config.Problems) {
	at := func(field, format string, args ...any) config.Problems {
		return config.Problems{config.Problem{File: f.Path, Line: f.line, Column: f.column, Field: field, Message: fmt.Sprintf(format, args...)}}
	}
	var (
		paths      = f.Policy
		vocabulary = f.Vocabulary
		field      = "policy"
	)
	if f.Document != "" {
		field = "document"
		cfgPath := f.Config
		if cfgPath == "" {
			cfgPath = ds.defaultConfig
		}
		if cfgPath == "" {
			return nil, at(field, "no configuration to find %q in: give config in the test file, or --config", f.Document)
		}
		lc, ok := ds.configs[cfgPath]
		if !ok {
			lc = &loadedConfig{}
			lc.cfg, lc.err = config.Load(cfgPath)
			ds.configs[cfgPath] = lc
			if lc.err != nil {
				return nil, appendProblems(at(field, "configuration %s does not load", cfgPath), cfgPath, lc.err)
			}
		}
		if lc.err != nil {
			return nil, at(field, "configuration %s does not load (its problems are listed above)", cfgPath)
		}
		i := slices.IndexFunc(lc.cfg.Policies, func(p config.Policy) bool { return p.Name == f.Document })
		if i < 0 {
			names := make([]string, len(lc.cfg.Policies))
			for j, p := range lc.cfg.Policies {
				names[j] = p.Name
			}
			sort.Strings(names)
			known := strings.Join(names, ", ")
			if known == "" {
				known = "none"
			}
			return nil, at(field, "configuration %s has no document %q (it has %s)", cfgPath, f.Document, known)
		}
		p := lc.cfg.Policies[i]
		paths, vocabulary = []string{lc.cfg.PolicyPath(p)}, p.Vocabulary
	}

	opts, err := config.Vocabulary(vocabulary)
	if err != nil {
		return nil, at(field, "%v", err)
	}
	var srcs []pdl.Source
	for _, p := range paths {
		s, err := config.ReadSources(p)
		if err != nil {
			return nil, at(field, "%v", err)
		}
		srcs = append(srcs, s...)
	}
	names := make([]string, len(srcs))
	key := vocabulary
	for i, s := range srcs {
		names[i] = s.Name
		abs, err := filepath.Abs(s.Name)
		if err != nil {
			abs = s.Name
		}
		key += "\n" + abs
	}
	if d, ok := ds.byKey[key]; ok {
		if d.failed {
			return nil, at(field, "the document does not load (its problems are listed above)")
		}
		return d, nil
	}
	d := &document{sources: names, vocabulary: vocabulary, opts: opts}
	ds.byKey[key] = d
	doc, err := pdl.Compile(opts, srcs...)
	if err != nil {
		d.failed = true
		return nil, appendProblems(at(field, "the document does not load:"), f.Path, err)
	}
	d.doc, d.cov = doc, doc.NewCoverage()
	ds.order = append(ds.order, d)
	return d, nil
}

// coverage sums up the coverage of every document, in the order the test
// files first named them.
func (ds *documents) coverage() *Coverage {
	cov := &Coverage{Documents: []DocumentCoverage{}}
	for _, d := range ds.order {
		dc := DocumentCoverage{Sources: d.sources, Vocabulary: d.vocabulary, Uncovered: []UncoveredRule{}}
		hits := d.cov.Hits()
		for i, r := range d.doc.Rules() {
			dc.Rules++
			h := hits[i]
			if h.Fired > 0 {
				dc.Covered++
				continue
			}
			reason := ReasonConditionNeverHeld
			switch {
			case h.Reached == 0:
				reason = ReasonNotReached
			case h.Applied == 0:
				reason = ReasonTargetNeverHeld
			}
			dc.Uncovered = append(dc.Uncovered, UncoveredRule{RuleInfo: r, Reason: reason})
		}
		sort.SliceStable(dc.Uncovered, func(i, j int) bool {
			a, b := dc.Uncovered[i], dc.Uncovered[j]
			if a.File != b.File {
				return a.File < b.File
			}
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		dc.Percent = percent(dc.Covered, dc.Rules)
		cov.Rules += dc.Rules
		cov.Covered += dc.Covered
		cov.Documents = append(cov.Documents, dc)
	}
	cov.Percent = percent(cov.Covered, cov.Rules)
	return cov
}

func percent(n, of int) float64 {
	if of == 0 {
		return 100
	}
	return math.Round(float64(n)*1000/float64(of)) / 10
}
