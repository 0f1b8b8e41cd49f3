// Package rewriteurlcaptures is the builtin chain policy
// "rewrite_url_captures" (APIcast's URL Rewriting with Captures): in the
// rewrite phase it captures path segments with a match rule such as
// "/{org}/users/{id}" and rewrites the request to a template such as
// "/v2/users/{id}?org={org}". Only the first transformation that matches
// applies. Match rules and templates are compiled when the chain is built.
package rewriteurlcaptures

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "rewrite_url_captures"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// Transformations are tried in order; the first that matches applies.
	Transformations []Transformation `json:"transformations"`
}

// Transformation rewrites the requests whose path its match rule matches.
type Transformation struct {
	// MatchRule is a regular expression searched in the path, in which
	// {name} captures a path segment.
	MatchRule string `json:"match_rule"`
	// Template is the new path, optionally with query arguments to set
	// after a "?"; {name} is replaced by the segment captured as name.
	Template string `json:"template"`
	// Methods limits the transformation to these methods; empty means all.
	Methods []string `json:"methods"`
}

// arg is a query argument of a template, to set on the request.
type arg struct {
	name, value []part
	// key is a name without placeholders, decoded, to compare with the
	// request's arguments; empty when the name has placeholders.
	key       string
	valueless bool // "name" without "=" in the template
}

type transformation struct {
	rule    *matchRule
	methods []string
	path    []part
	args    []arg
}

// Policy rewrites paths and query arguments. It holds only its compiled
// configuration and is safe for concurrent use.
type Policy struct {
	transformations []transformation
}

var _ chain.Rewriter = (*Policy)(nil)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{transformations: make([]transformation, 0, len(cfg.Transformations))}
	for i, tr := range cfg.Transformations {
		t, err := compile(tr)
		if err != nil {
			return nil, fmt.Errorf("transformations[%d].%w", i, err)
		}
		p.transformations = append(p.transformations, t)
	}
	return p, nil
}

func compile(tr Transformation) (transformation, error) {
	var t transformation
	rule, err := parseMatchRule(tr.MatchRule)
	if err != nil {
		return t, fmt.Errorf("match_rule: %w", err)
	}
	t.rule = rule
	if len(tr.Methods) > 0 {
		t.methods = tr.Methods
	}
	path, query, _ := strings.Cut(tr.Template, "?")
	if path == "" {
		return t, fmt.Errorf("template: %q has no path before its query", tr.Template)
	}
	t.path = parts(path, rule.names)
	for _, a := range strings.Split(query, "&") {
		if a == "" {
			continue
		}
		name, value, hasValue := strings.Cut(a, "=")
		if name == "" {
			return t, fmt.Errorf("template: the query argument %q has no name", a)
		}
		na := arg{name: parts(name, rule.names), value: parts(value, rule.names), valueless: !hasValue}
		if len(na.name) == 1 && na.name[0].capture < 0 {
			na.key = name
		}
		// A name set twice keeps its first place and its last value.
		if k := t.argIndex(na.key); k >= 0 {
			t.args[k].value, t.args[k].valueless = na.value, na.valueless
			continue
		}
		t.args = append(t.args, na)
	}
	return t, nil
}

func (t *transformation) argIndex(key string) int {
	if key == "" {
		return -1
	}
	for i := range t.args {
		if t.args[i].key == key {
			return i
		}
	}
	return -1
}

// Rewrite applies the first transformation whose methods and match rule
// match the request: the path becomes the template's, and the template's
// query arguments replace those of the same name (the others stay).
func (p *Policy) Rewrite(c *chain.Context) error {
	r := c.Request
	path := r.URL.Path
	for i := range p.transformations {
		t := &p.transformations[i]
		if t.methods != nil && !contains(t.methods, r.Method) {
			continue
		}
		m := t.rule.re.FindStringSubmatchIndex(path)
		if m == nil {
			continue
		}
		caps := captures{path: path, index: m, groups: t.rule.groups}
		r.URL.Path = t.renderPath(caps)
		r.URL.RawPath = ""
		if len(t.args) > 0 {
			r.URL.RawQuery = t.setArgs(r.URL.RawQuery, caps)
			r.URL.ForceQuery = false
		}
		return nil
	}
	return nil
}

// captures reads the placeholders' values from a match.
type captures struct {
	path   string
	index  []int
	groups []int
}

func (c captures) value(k int) string {
	g := c.groups[k]
	if c.index[2*g] < 0 {
		return "" // in an optional group of the match rule that did not match
	}
	return c.path[c.index[2*g]:c.index[2*g+1]]
}

func (c captures) length(ps []part) int {
	n := 0
	for _, p := range ps {
		if p.capture < 0 {
			n += len(p.text)
		} else {
			n += len(c.value(p.capture))
		}
	}
	return n
}

// renderPath is the template's path with the captures in place, starting
// with a slash.
func (t *transformation) renderPath(c captures) string {
	n := c.length(t.path)
	slash := c.first(t.path) != '/'
	if slash {
		n++
	}
	var b strings.Builder
	b.Grow(n)
	if slash {
		b.WriteByte('/')
	}
	for _, p := range t.path {
		if p.capture < 0 {
			b.WriteString(p.text)
		} else {
			b.WriteString(c.value(p.capture))
		}
	}
	return b.String()
}

// first returns the first byte of parts once rendered, 0 when they render
// empty.
func (c captures) first(ps []part) byte {
	for _, p := range ps {
		s := p.text
		if p.capture >= 0 {
			s = c.value(p.capture)
		}
		if s != "" {
			return s[0]
		}
	}
	return 0
}

// setArgs returns the query raw with the template's arguments set: each
// takes the place of the first argument of its name, whose other values
// are dropped, or goes at the end. Other arguments keep their order and
// encoding.
func (t *transformation) setArgs(raw string, c captures) string {
	var keys [8]string
	names := keys[:0]
	for i := range t.args {
		a := &t.args[i]
		if a.key != "" {
			names = append(names, a.key)
		} else {
			names = append(names, render(a.name, c))
		}
	}
	var w written
	if len(t.args) > 64 {
		w.more = make([]bool, len(t.args)-64)
	}
	var b strings.Builder
	b.Grow(len(raw) + t.argsLen(names, c))
	rest := raw
	for rest != "" {
		var seg string
		seg, rest, _ = strings.Cut(rest, "&")
		if seg == "" {
			continue
		}
		k, _, _ := strings.Cut(seg, "=")
		if strings.ContainsAny(k, "%+") {
			if d, err := url.QueryUnescape(k); err == nil {
				k = d
			}
		}
		i := indexOf(names, k)
		if i < 0 {
			writeSep(&b)
			b.WriteString(seg)
			continue
		}
		if !w.has(i) {
			w.add(i)
			t.writeArg(&b, i, names[i], c)
		}
	}
	for i := range t.args {
		if !w.has(i) {
			t.writeArg(&b, i, names[i], c)
		}
	}
	return b.String()
}

// written records which of a template's arguments are written: the
// first 64 in a bit set, any others in a slice.
type written struct {
	bits uint64
	more []bool
}

func (w *written) has(i int) bool {
	if i < 64 {
		return w.bits&(1<<i) != 0
	}
	return w.more[i-64]
}

func (w *written) add(i int) {
	if i < 64 {
		w.bits |= 1 << i
	} else {
		w.more[i-64] = true
	}
}

func writeSep(b *strings.Builder) {
	if b.Len() > 0 {
		b.WriteByte('&')
	}
}

func (t *transformation) writeArg(b *strings.Builder, i int, name string, c captures) {
	writeSep(b)
	appendEscaped(b, name)
	a := &t.args[i]
	if a.valueless {
		return
	}
	b.WriteByte('=')
	for _, p := range a.value {
		if p.capture < 0 {
			appendEscaped(b, p.text)
		} else {
			appendEscaped(b, c.value(p.capture))
		}
	}
}

// argsLen is about how long the template's arguments are once written.
func (t *transformation) argsLen(names []string, c captures) int {
	n := 0
	for i := range t.args {
		n += len(names[i]) + 2 + c.length(t.args[i].value)
	}
	return n + n/4
}

// render is the text of parts with the captures in place.
func render(ps []part, c captures) string {
	var b strings.Builder
	b.Grow(c.length(ps))
	for _, p := range ps {
		if p.capture < 0 {
			b.WriteString(p.text)
		} else {
			b.WriteString(c.value(p.capture))
		}
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// appendEscaped writes s escaped for a query, as url.QueryEscape does,
// without a string of its own.
func appendEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '-', ch == '_', ch == '.', ch == '~':
			b.WriteByte(ch)
		case ch == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[ch>>4])
			b.WriteByte(upperHex[ch&15])
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
