// Package urlrewriting is the builtin chain policy "url_rewriting"
// (APIcast's URL Rewriting): in the rewrite phase it rewrites the request
// path with regular expressions (sub and gsub, with break) and then edits
// the query arguments (add, set, push, delete), each command optionally
// limited to some methods. Regular expressions and Liquid values are
// compiled when the chain is built.
package urlrewriting

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// Name is the policy's name in a chain entry.
const Name = "url_rewriting"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// Commands rewrite the path, in order.
	Commands []Command `json:"commands"`
	// QueryArgsCommands edit the query, in order, after Commands.
	QueryArgsCommands []QueryArgCommand `json:"query_args_commands"`
}

// Command rewrites the path.
type Command struct {
	// Op is sub (first match) or gsub (every match).
	Op string `json:"op"`
	// Regex is searched in the path.
	Regex string `json:"regex"`
	// Replace replaces each match; $0, $1, ${1} refer to captures.
	Replace string `json:"replace"`
	// Options are regex flags in ngx.re's letters.
	Options string `json:"options"`
	// Break stops the remaining commands when this one changed the path.
	Break bool `json:"break"`
	// Methods limits the command to these methods; empty means all.
	Methods []string `json:"methods"`
}

// QueryArgCommand edits a query argument.
type QueryArgCommand struct {
	// Op is add, set, push or delete.
	Op string `json:"op"`
	// Arg is the argument's name.
	Arg string `json:"arg"`
	// Value is the value to write; ignored by delete.
	Value string `json:"value"`
	// ValueType is plain (the default) or liquid.
	ValueType string `json:"value_type"`
	// Methods limits the command to these methods; empty means all.
	Methods []string `json:"methods"`
}

type pathCommand struct {
	global  bool
	re      *regexp.Regexp
	replace string // in Go's expansion syntax
	brk     bool
	methods []string
}

type argOp uint8

const (
	argSet argOp = iota
	argPush
	argAdd
	argDelete
)

type argCommand struct {
	op      argOp
	arg     string
	escaped string // the argument's name, query-escaped
	value   *liquidctx.Template
	methods []string
}

// Policy rewrites paths and query arguments. It holds only its compiled
// configuration and is safe for concurrent use.
type Policy struct {
	path []pathCommand
	args []argCommand
}

var _ chain.Rewriter = (*Policy)(nil)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{}
	for i, c := range cfg.Commands {
		at := fmt.Sprintf("commands[%d]", i)
		var pc pathCommand
		switch c.Op {
		case "sub":
		case "gsub":
			pc.global = true
		default:
			return nil, fmt.Errorf("%s.op: unknown operation %q (want sub or gsub)", at, c.Op)
		}
		flags, anchored, err := regexFlags(c.Options)
		if err != nil {
			return nil, fmt.Errorf("%s.options: %w", at, err)
		}
		expr := c.Regex
		if anchored {
			expr = `^(?:` + expr + `)`
		}
		if flags != "" {
			expr = `(?` + flags + `)` + expr
		}
		if pc.re, err = regexp.Compile(expr); err != nil {
			return nil, fmt.Errorf("%s.regex: invalid regular expression %q: %w", at, c.Regex, err)
		}
		if pc.replace, err = replacement(c.Replace, pc.re.NumSubexp()); err != nil {
			return nil, fmt.Errorf("%s.replace: %w", at, err)
		}
		pc.brk = c.Break
		pc.methods = c.Methods
		p.path = append(p.path, pc)
	}
	for i, c := range cfg.QueryArgsCommands {
		at := fmt.Sprintf("query_args_commands[%d]", i)
		ac := argCommand{arg: c.Arg, escaped: url.QueryEscape(c.Arg), methods: c.Methods}
		switch c.Op {
		case "set":
			ac.op = argSet
		case "push":
			ac.op = argPush
		case "add":
			ac.op = argAdd
		case "delete":
			ac.op = argDelete
		default:
			return nil, fmt.Errorf("%s.op: unknown operation %q (want add, set, push or delete)", at, c.Op)
		}
		if c.Arg == "" {
			return nil, fmt.Errorf("%s.arg: empty", at)
		}
		if ac.op != argDelete {
			t, err := liquidctx.Compile(c.Value, c.ValueType)
			if err != nil {
				return nil, fmt.Errorf("%s.value: %w", at, err)
			}
			ac.value = t
		}
		p.args = append(p.args, ac)
	}
	return p, nil
}

// regexFlags turns ngx.re option letters into RE2 flags.
func regexFlags(options string) (flags string, anchored bool, err error) {
	for _, o := range options {
		switch o {
		case 'i', 'm', 's':
			if !strings.ContainsRune(flags, o) {
				flags += string(o)
			}
		case 'a':
			anchored = true
		case 'o', 'j', 'u', 'U':
			// Compile once, JIT and UTF-8 modes: RE2 always behaves so.
		case 'x':
			return "", false, fmt.Errorf("option x (extended syntax) is not supported; remove the spaces and comments from the regex")
		default:
			return "", false, fmt.Errorf("unknown option %q (known: i, m, s, a, o, j, u, U)", o)
		}
	}
	return flags, anchored, nil
}

// replacement turns an ngx.re replacement ($0, $1, ${1}, $$) into Go's
// expansion template, refusing references to captures the regex lacks.
func replacement(s string, captures int) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteString("$$")
			i++
			continue
		}
		j, braced := i+1, false
		if j < len(s) && s[j] == '{' {
			braced = true
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k == j || (braced && (k >= len(s) || s[k] != '}')) {
			return "", fmt.Errorf("at byte %d: $ must be followed by a capture number ($1 or ${1}), or written $$", i)
		}
		n, err := strconv.Atoi(s[j:k])
		if err != nil || n > captures {
			return "", fmt.Errorf("$%s refers to a capture the regex does not have (it has %d)", s[j:k], captures)
		}
		b.WriteString("${")
		b.WriteString(s[j:k])
		b.WriteString("}")
		i = k - 1
		if braced {
			i = k
		}
	}
	return b.String(), nil
}

func applies(methods []string, method string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, m := range methods {
		if m == method {
			return true
		}
	}
	return false
}

// Rewrite runs the path commands, then the query argument commands.
func (p *Policy) Rewrite(c *chain.Context) error {
	r := c.Request
	for i := range p.path {
		cmd := &p.path[i]
		if !applies(cmd.methods, r.Method) {
			continue
		}
		path := r.URL.Path
		m := cmd.re.FindStringSubmatchIndex(path)
		if m == nil {
			continue
		}
		var out string
		if cmd.global {
			out = cmd.re.ReplaceAllString(path, cmd.replace)
		} else {
			buf := make([]byte, 0, len(path)+len(cmd.replace))
			buf = append(buf, path[:m[0]]...)
			buf = cmd.re.ExpandString(buf, cmd.replace, path, m)
			buf = append(buf, path[m[1]:]...)
			out = string(buf)
		}
		r.URL.Path = out
		r.URL.RawPath = ""
		if cmd.brk {
			break
		}
	}
	if len(p.args) == 0 {
		return nil
	}
	var q *query
	for i := range p.args {
		cmd := &p.args[i]
		if !applies(cmd.methods, r.Method) {
			continue
		}
		if q == nil {
			q = parseQuery(r.URL.RawQuery)
		}
		if cmd.op == argDelete {
			q.delete(cmd.arg)
			continue
		}
		if cmd.op == argAdd && !q.has(cmd.arg) {
			continue
		}
		v, err := cmd.value.Render(c)
		if err != nil {
			return fmt.Errorf("query_args_commands[%d]: %w", i, err)
		}
		seg := cmd.escaped + "=" + url.QueryEscape(v)
		if cmd.op == argSet {
			q.set(cmd.arg, seg)
		} else {
			q.push(cmd.arg, seg)
		}
	}
	if q != nil {
		r.URL.RawQuery = q.encode()
		r.URL.ForceQuery = false
	}
	return nil
}

// query is a query string as a list of its segments, so that edits keep
// the order and the encoding of the arguments they do not touch.
type query struct {
	segs []segment
}

type segment struct {
	key string // decoded name
	raw string // the segment as sent, "name=value"
}

func parseQuery(raw string) *query {
	q := &query{segs: make([]segment, 0, strings.Count(raw, "&")+2)}
	for seg := range strings.SplitSeq(raw, "&") {
		if seg == "" {
			continue
		}
		k, _, _ := strings.Cut(seg, "=")
		if d, err := url.QueryUnescape(k); err == nil {
			k = d
		}
		q.segs = append(q.segs, segment{key: k, raw: seg})
	}
	return q
}

func (q *query) has(key string) bool {
	for _, s := range q.segs {
		if s.key == key {
			return true
		}
	}
	return false
}

func (q *query) delete(key string) {
	out := q.segs[:0]
	for _, s := range q.segs {
		if s.key != key {
			out = append(out, s)
		}
	}
	q.segs = out
}

// set replaces every value of key with seg, at the place of the first.
func (q *query) set(key, seg string) {
	at := -1
	out := q.segs[:0]
	for _, s := range q.segs {
		if s.key == key {
			if at >= 0 {
				continue
			}
			at = len(out)
			s.raw = seg
		}
		out = append(out, s)
	}
	q.segs = out
	if at < 0 {
		q.push(key, seg)
	}
}

func (q *query) push(key, seg string) {
	q.segs = append(q.segs, segment{key: key, raw: seg})
}

func (q *query) encode() string {
	switch len(q.segs) {
	case 0:
		return ""
	case 1:
		return q.segs[0].raw
	}
	n := len(q.segs) - 1
	for _, s := range q.segs {
		n += len(s.raw)
	}
	var b strings.Builder
	b.Grow(n)
	for i, s := range q.segs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(s.raw)
	}
	return b.String()
}
