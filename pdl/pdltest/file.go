package pdltest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pdl"
)

// File is one parsed test file: the document it tests and its cases.
type File struct {
	// Path is the file's path as it was found.
	Path string
	// Description is free text about the file.
	Description string
	// Policy lists the policy files or directories under test, resolved
	// against the test file's directory. Empty when Document is set.
	Policy []string
	// Vocabulary is the attribute vocabulary Policy is compiled with.
	Vocabulary string
	// Config is the configuration file Document is looked up in, resolved
	// against the test file's directory; empty means the run's default.
	Config string
	// Document is the name of the document under test in a configuration.
	Document string
	// Cases are the cases in file order.
	Cases []Case

	// line and column of the key naming the document, for problems found
	// when the document is read.
	line, column int
}

// Case is one input and what the document must decide for it.
type Case struct {
	Name        string
	Description string
	// Line and Column locate the case in its file.
	Line, Column int
	// Input holds the attributes, as JSON-like values.
	Input pdl.Input
	// Decision is the decision wanted.
	Decision pdl.Effect
	// Path, when set, is the deciding path wanted; PathPrefix, when set,
	// is what it must start with.
	Path, PathPrefix *string
	// Obligations and Advice, when set, are what the decision must carry.
	Obligations, Advice *Expected
	// Error, when set, is text the error of an indeterminate decision
	// must contain.
	Error *string

	inputKeys []inputKey
}

// Expected is what a decision's obligations (or advice) must be.
type Expected struct {
	// Include says that the listed obligations must be among the
	// decision's, in any order, each matching a different one, with
	// parameters that contain the listed ones. Otherwise the decision
	// must carry exactly the listed obligations, in order.
	Include bool
	Items   []ExpectedObligation
}

// ExpectedObligation is one obligation a decision must carry.
type ExpectedObligation struct {
	Name string
	// Params are the parameters wanted, as JSON-like values.
	Params any
	// AnyParams, for an included obligation listed without params,
	// accepts any parameters.
	AnyParams bool
}

// inputKey is one attribute name of a case's input, where it was written.
type inputKey struct {
	name         string
	line, column int
}

// Limits of a test file, so that a hostile one cannot exhaust memory
// through YAML aliases or the stack through nesting.
const (
	maxNodes = 200000
	maxDepth = 200
)

// LoadFile reads and parses the test file at path.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read test file: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile parses a test file held in memory as if read from path, which
// names it in problems and anchors its relative paths. Every problem is
// reported at once, as config.Problems, each with the line, column and
// dotted field it is about.
func ParseFile(path string, data []byte) (*File, error) {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		// The YAML parser reads JSON too, but places a JSON syntax
		// error at the start of the enclosing object.
		if p := jsonSyntax(path, data); p != nil {
			return nil, config.Problems{*p}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, config.Problems{config.Problem{File: path, Message: "the test file is empty"}}
		}
		return nil, config.Problems{syntaxProblem(path, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, config.Problems{config.Problem{File: path, Line: extra.Line, Column: extra.Column,
			Message: "the file holds more than one YAML document"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, config.Problems{syntaxProblem(path, err)}
	}
	d := &decoder{file: path, budget: maxNodes}
	f := &File{Path: path}
	if len(root.Content) == 1 {
		d.testFile(root.Content[0], f)
	}
	if len(d.problems) > 0 {
		return nil, d.problems
	}
	return f, nil
}

// jsonSyntax returns the first JSON syntax error in data, placed at its
// line and column, or nil.
func jsonSyntax(path string, data []byte) *config.Problem {
	// A byte order mark is not JSON, but editors write one: the decoder
	// reads it as spaces of the same length, so offsets stay those of data.
	text := data
	if bytes.HasPrefix(data, []byte("\ufeff")) {
		text = append([]byte("   "), data[3:]...)
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	var v any
	err := dec.Decode(&v)
	if err == nil {
		rest := bytes.TrimLeft(text[dec.InputOffset():], " \t\r\n")
		if len(rest) > 0 {
			line, col := position(data, len(data)-len(rest))
			return &config.Problem{File: path, Line: line, Column: col, Message: "syntax error: data after the JSON object"}
		}
		return nil
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, int(syn.Offset)-1)
		return &config.Problem{File: path, Line: line, Column: col, Message: "syntax error: " + syn.Error()}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(data, len(data))
		return &config.Problem{File: path, Line: line, Column: col, Message: "syntax error: unexpected end of JSON input"}
	}
	return &config.Problem{File: path, Message: "syntax error: " + err.Error()}
}

// position returns the line and column (in characters, from 1) of byte
// offset off of data.
func position(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, utf8.RuneCount(data[start:off]) + 1
}

// syntaxProblem turns a YAML parse error into a problem, lifting the line
// number out of the message when it has one.
func syntaxProblem(file string, err error) config.Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := config.Problem{File: file}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				p.Line, msg = n, tail
			}
		}
	}
	p.Message = "syntax error: " + msg
	return p
}

// decoder walks the YAML nodes of one test file, collecting every problem
// with its position.
type decoder struct {
	file     string
	problems config.Problems
	budget   int  // nodes left to convert into values
	tooBig   bool // the budget or the depth was exceeded, and said so
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	p := config.Problem{File: d.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

// resolve follows YAML aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func index(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "an unsupported node"
}

// entries calls each for every key of the mapping n, in order, and reports
// a value that is not a mapping, keys that are not plain names and keys
// given twice.
func (d *decoder) entries(n *yaml.Node, field string, each func(key string, k, v *yaml.Node)) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.errorf(n, field, "must be a mapping, not %s", kindName(n))
		return false
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			d.errorf(n.Content[i], field, "keys must be plain names")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, join(field, k.Value), "given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		each(k.Value, k, v)
	}
	return true
}

// fields decodes a mapping with a fixed set of keys; any other key is a
// problem that lists the known ones.
func (d *decoder) fields(n *yaml.Node, field string, known map[string]func(k, v *yaml.Node, field string)) bool {
	return d.entries(n, field, func(key string, k, v *yaml.Node) {
		f, ok := known[key]
		if !ok {
			names := make([]string, 0, len(known))
			for name := range known {
				names = append(names, name)
			}
			sort.Strings(names)
			d.errorf(k, join(field, key), "unknown field (known: %s)", strings.Join(names, ", "))
			return
		}
		f(k, v, join(field, key))
	})
}

// str decodes a string scalar. Numbers and booleans are refused rather than
// read as text, so that a slip does not pass unnoticed.
func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.errorf(n, field, "must be a string, not %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// file_ decodes the top level of a test file.
func (d *decoder) testFile(n *yaml.Node, f *File) {
	var policyKey, documentKey, vocabularyKey, configKey, casesKey *yaml.Node
	ok := d.fields(n, "", map[string]func(*yaml.Node, *yaml.Node, string){
		"description": func(_, v *yaml.Node, field string) { f.Description, _ = d.str(v, field) },
		"policy": func(k, v *yaml.Node, field string) {
			policyKey = k
			f.Policy = d.paths(v, field)
		},
		"vocabulary": func(k, v *yaml.Node, field string) {
			vocabularyKey = k
			s, ok := d.str(v, field)
			if !ok {
				return
			}
			if _, err := config.Vocabulary(s); err != nil {
				d.errorf(v, field, "%v", err)
				return
			}
			f.Vocabulary = s
		},
		"config": func(k, v *yaml.Node, field string) {
			configKey = k
			if s, ok := d.str(v, field); ok {
				if s == "" {
					d.errorf(v, field, "must name a configuration file")
					return
				}
				f.Config = d.relative(s)
			}
		},
		"document": func(k, v *yaml.Node, field string) {
			documentKey = k
			if s, ok := d.str(v, field); ok {
				if s == "" {
					d.errorf(v, field, "must name a document of the configuration")
					return
				}
				f.Document = s
			}
		},
		"cases": func(k, v *yaml.Node, field string) {
			casesKey = k
			d.cases(v, field, f)
		},
	})
	if !ok {
		return
	}
	switch {
	case policyKey != nil && documentKey != nil:
		d.errorf(documentKey, "document", "give either policy (files under test) or document (a document of a configuration), not both")
	case policyKey == nil && documentKey == nil:
		d.errorf(n, "", "the document under test is missing: give policy (a policy file or directory, relative to this file) or document (the name of a document in a configuration)")
	case policyKey != nil:
		f.line, f.column = policyKey.Line, policyKey.Column
	default:
		f.line, f.column = documentKey.Line, documentKey.Column
	}
	if vocabularyKey != nil && policyKey == nil {
		d.errorf(vocabularyKey, "vocabulary", "applies to policy only: a document's vocabulary comes from its configuration")
	}
	if configKey != nil && documentKey == nil {
		d.errorf(configKey, "config", "applies to document only")
	}
	if casesKey == nil {
		d.errorf(n, "cases", "a test file needs a list of cases")
	}
}

// paths decodes a path or a list of paths, resolved against the test
// file's directory.
func (d *decoder) paths(n *yaml.Node, field string) []string {
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			d.errorf(n, field, "must name at least one policy file or directory")
			return nil
		}
		out := make([]string, 0, len(n.Content))
		for i, it := range n.Content {
			if s, ok := d.str(resolve(it), index(field, i)); ok && s != "" {
				out = append(out, d.relative(s))
			} else if ok {
				d.errorf(it, index(field, i), "must name a policy file or directory")
			}
		}
		return out
	}
	s, ok := d.str(n, field)
	if !ok {
		return nil
	}
	if s == "" {
		d.errorf(n, field, "must name a policy file or directory")
		return nil
	}
	return []string{d.relative(s)}
}

// relative resolves p against the test file's directory.
func (d *decoder) relative(p string) string {
	p = filepath.FromSlash(p)
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(d.file), p)
}

func (d *decoder) cases(n *yaml.Node, field string, f *File) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "must be a list of cases, not %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		d.errorf(n, field, "must hold at least one case")
		return
	}
	names := map[string]int{}
	for i, it := range n.Content {
		it = resolve(it)
		cf := index(field, i)
		c, ok := d.testCase(it, cf)
		if !ok {
			continue
		}
		if first, dup := names[c.Name]; dup {
			d.errorf(it, join(cf, "name"), "the case name %q is given twice (first on line %d)", c.Name, first)
			continue
		}
		names[c.Name] = c.Line
		f.Cases = append(f.Cases, c)
	}
}

func (d *decoder) testCase(n *yaml.Node, field string) (Case, bool) {
	c := Case{Line: n.Line, Column: n.Column, Input: pdl.Input{}}
	var nameKey, decisionKey, pathKey, prefixKey, errorKey *yaml.Node
	exclusive := map[string]*yaml.Node{}
	before := len(d.problems)
	ok := d.fields(n, field, map[string]func(*yaml.Node, *yaml.Node, string){
		"name": func(k, v *yaml.Node, f string) {
			nameKey = k
			if s, ok := d.str(v, f); ok {
				if strings.TrimSpace(s) == "" {
					d.errorf(v, f, "must not be empty")
				}
				c.Name = s
			}
		},
		"description": func(_, v *yaml.Node, f string) { c.Description, _ = d.str(v, f) },
		"input":       func(_, v *yaml.Node, f string) { d.input(v, f, &c) },
		"decision": func(k, v *yaml.Node, f string) {
			decisionKey = k
			s, ok := d.str(v, f)
			if !ok {
				return
			}
			if err := c.Decision.UnmarshalText([]byte(s)); err != nil {
				d.errorf(v, f, "unknown decision %q: want permit, deny, not_applicable or indeterminate", s)
			}
		},
		"path": func(k, v *yaml.Node, f string) {
			pathKey = k
			if s, ok := d.str(v, f); ok {
				c.Path = &s
			}
		},
		"path_prefix": func(k, v *yaml.Node, f string) {
			prefixKey = k
			if s, ok := d.str(v, f); ok {
				c.PathPrefix = &s
			}
		},
		"obligations": func(k, v *yaml.Node, f string) {
			exclusive[f] = k
			c.Obligations = d.expected(v, f, "obligations", false)
		},
		"obligations_include": func(k, v *yaml.Node, f string) {
			exclusive[f] = k
			c.Obligations = d.expected(v, f, "obligations", true)
		},
		"advice": func(k, v *yaml.Node, f string) {
			exclusive[f] = k
			c.Advice = d.expected(v, f, "advice", false)
		},
		"advice_include": func(k, v *yaml.Node, f string) {
			exclusive[f] = k
			c.Advice = d.expected(v, f, "advice", true)
		},
		"error": func(k, v *yaml.Node, f string) {
			errorKey = k
			if s, ok := d.str(v, f); ok {
				c.Error = &s
			}
		},
	})
	if !ok {
		return c, false
	}
	if nameKey == nil {
		d.errorf(n, join(field, "name"), "every case needs a name")
	}
	if decisionKey == nil {
		d.errorf(n, join(field, "decision"), "every case needs the decision it wants (permit, deny, not_applicable or indeterminate)")
	}
	if pathKey != nil && prefixKey != nil {
		d.errorf(prefixKey, join(field, "path_prefix"), "give either path or path_prefix, not both")
	}
	for _, pair := range [][2]string{{"obligations", "obligations_include"}, {"advice", "advice_include"}} {
		if k := exclusive[join(field, pair[1])]; k != nil && exclusive[join(field, pair[0])] != nil {
			d.errorf(k, join(field, pair[1]), "give either %s or %s, not both", pair[0], pair[1])
		}
	}
	if errorKey != nil && decisionKey != nil && c.Decision != pdl.Indeterminate {
		d.errorf(errorKey, join(field, "error"), "applies to an indeterminate decision only")
	}
	return c, len(d.problems) == before
}

// input decodes a case's attributes: a mapping of attribute name to value.
func (d *decoder) input(n *yaml.Node, field string, c *Case) {
	if isNull(n) {
		return
	}
	d.entries(n, field, func(key string, k, v *yaml.Node) {
		c.inputKeys = append(c.inputKeys, inputKey{name: key, line: k.Line, column: k.Column})
		c.Input[key] = d.value(v, join(field, key), 0)
	})
}

// expected decodes the obligations (or advice) a case wants: a list of
// {name, params} as decisions print them, or a mapping of name to params as
// policies write them.
func (d *decoder) expected(n *yaml.Node, field, what string, include bool) *Expected {
	e := &Expected{Include: include, Items: []ExpectedObligation{}}
	switch {
	case isNull(n):
	case n.Kind == yaml.MappingNode:
		d.entries(n, field, func(name string, _, v *yaml.Node) {
			e.Items = append(e.Items, ExpectedObligation{Name: name, Params: d.value(v, join(field, name), 0)})
		})
	case n.Kind == yaml.SequenceNode:
		for i, it := range n.Content {
			it = resolve(it)
			f := index(field, i)
			var (
				o         ExpectedObligation
				named     bool
				hasParams bool
			)
			d.fields(it, f, map[string]func(*yaml.Node, *yaml.Node, string){
				"name": func(_, v *yaml.Node, f string) {
					if s, ok := d.str(v, f); ok {
						if s == "" {
							d.errorf(v, f, "must not be empty")
						}
						o.Name, named = s, true
					}
				},
				"params": func(_, v *yaml.Node, f string) {
					o.Params, hasParams = d.value(v, f, 0), true
				},
			})
			if it.Kind != yaml.MappingNode {
				continue
			}
			if !named {
				d.errorf(it, join(f, "name"), "every obligation needs a name")
			}
			if !hasParams {
				if !include {
					d.errorf(it, join(f, "params"), "%s lists every obligation with its params (in %s_include, one without params matches any)", what, what)
				}
				o.AnyParams = true
			}
			e.Items = append(e.Items, o)
		}
	default:
		d.errorf(n, field, "must be a list of {name, params} or a mapping of name to params, not %s", kindName(n))
	}
	return e
}

// value converts a YAML node into the JSON-like value a decoded JSON
// document would hold: nil, bool, float64, string, []any or map[string]any.
// Other scalars (dates, for instance) are their text.
func (d *decoder) value(n *yaml.Node, field string, depth int) any {
	n = resolve(n)
	d.budget--
	if d.budget < 0 || depth > maxDepth {
		if !d.tooBig {
			d.tooBig = true
			d.errorf(n, field, "too large or too deeply nested (at most %d values, %d levels)", maxNodes, maxDepth)
		}
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		d.entries(n, field, func(key string, _, v *yaml.Node) {
			m[key] = d.value(v, join(field, key), depth+1)
		})
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for i, it := range n.Content {
			l = append(l, d.value(it, index(field, i), depth+1))
		}
		return l
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				d.errorf(n, field, "bad boolean %q", n.Value)
			}
			return b
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				d.errorf(n, field, "%q is not a number JSON can hold", n.Value)
				return nil
			}
			return f
		}
		return n.Value
	}
	d.errorf(n, field, "unsupported YAML node")
	return nil
}
