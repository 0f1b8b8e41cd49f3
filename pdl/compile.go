package pdl

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/osteele/liquid"
)

// Document is a compiled policy document: immutable and safe for
// concurrent use. Build one with Compile; swap whole documents to reload.
type Document struct {
	sets     []*policySet
	setIndex index

	attrNames []string // attribute slots, by index
	fold      []bool   // per slot: string comparisons ignore case (weekday)

	advice map[string]bool // obligation names returned as advice

	nsets, npolicies, nrules int
	states                   sync.Pool
}

type policySet struct {
	id       string
	path     string
	target   cond
	alg      algorithm
	policies []*policy
	index    index

	tnode    *node
	priority float64
	obl      keyed
}

type policy struct {
	id     string
	path   string
	target cond
	alg    algorithm
	rules  []*rule
	index  index

	tnode    *node
	priority float64
	obl      keyed
}

type rule struct {
	id        string
	path      string
	target    cond
	condition cond
	effect    Effect
	// out is what a decision by this rule carries: its obligations, then
	// its policy's and its set's for the rule's effect.
	out outcome

	tnode    *node
	cnode    *node // the condition, which the index reads too
	priority float64
	obl      []obligation

	// Where the rule was written and its place in Rules; read by
	// Rules and Coverage only, never while deciding.
	index     int
	file      string
	line, col int
	where     string
}

// keyed holds a policy's or set's obligations by decision.
type keyed struct{ permit, deny []obligation }

func (k keyed) of(e Effect) []obligation {
	if e == Permit {
		return k.permit
	}
	return k.deny
}

// obligation is a compiled obligation; params may hold templates.
type obligation struct {
	name    string
	params  any
	dynamic bool
}

// outcome is the precomputed result of a decision by one rule.
type outcome struct {
	obligations []Obligation
	advice      []Obligation
	dynamic     []obligation // all obligations, in order, when any is a template
	path        string
}

// algorithm is a combining algorithm.
type algorithm uint8

const (
	blockOverrides algorithm = iota
	allowOverrides
	firstApplicable
)

var algorithms = map[string]algorithm{
	"blockOverrides":  blockOverrides,
	"denyOverrides":   blockOverrides,
	"allowOverrides":  allowOverrides,
	"permitOverrides": allowOverrides,
	"firstApplicable": firstApplicable,
}

func (a algorithm) String() string {
	return [...]string{"blockOverrides", "allowOverrides", "firstApplicable"}[a]
}

// Counts returns how many policy sets, policies and rules d holds.
func (d *Document) Counts() (sets, policies, rules int) { return d.nsets, d.npolicies, d.nrules }

// compiler holds the state of one Compile call.
type compiler struct {
	opts     Options
	file     string
	problems []Problem
	doc      *Document
	slots    map[string]int
	advice   map[string]bool
	liquid   *liquid.Engine
}

// Compile parses, validates and compiles the sources into one document;
// their policy sets are concatenated in order. Every problem found is
// reported at once, as a *LoadError.
func Compile(opts Options, srcs ...Source) (*Document, error) {
	c := &compiler{
		opts:   opts,
		doc:    &Document{},
		slots:  map[string]int{},
		advice: map[string]bool{},
	}
	if opts.Advice == nil {
		c.advice["info"] = true
	}
	for _, a := range opts.Advice {
		c.advice[a] = true
	}
	for _, src := range srcs {
		c.file = src.Name
		root, err := parseSource(src.Name, src.Data)
		if err != nil {
			var se *syntaxError
			if !errors.As(err, &se) {
				se = &syntaxError{msg: err.Error()}
			}
			c.problems = append(c.problems, Problem{File: src.Name, Line: se.line, Column: se.col, Message: "syntax error: " + se.msg})
			continue
		}
		c.document(root)
	}
	if len(c.problems) > 0 {
		slices.SortStableFunc(c.problems, func(a, b Problem) int {
			if a.File != b.File {
				return 0
			}
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, &LoadError{Problems: c.problems}
	}
	c.link()
	d := c.doc
	d.advice = c.advice
	n := len(d.attrNames)
	d.states.New = func() any {
		return &state{doc: d, vals: make([]any, n), gen: make([]uint32, n)}
	}
	return d, nil
}

func (c *compiler) errorf(n *node, path, format string, args ...any) {
	p := Problem{File: c.file, Path: path, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.line, n.col
	}
	c.problems = append(c.problems, p)
}

// keyError reports a problem with key i of object n, at the key's position.
func (c *compiler) keyError(n *node, i int, path, format string, args ...any) {
	p := Problem{File: c.file, Path: path, Message: fmt.Sprintf(format, args...)}
	if i < len(n.keyPos) {
		p.Line, p.Column = n.keyPos[i][0], n.keyPos[i][1]
	}
	c.problems = append(c.problems, p)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isRule(n *node) bool {
	return n.kind == kObject && n.get("effect") != nil && n.get("policies") == nil && n.get("rules") == nil
}

// document reads one file in any of the accepted forms.
func (c *compiler) document(root *node) {
	base := len(c.doc.sets)
	setPath := func(i int) string { return fmt.Sprintf("policySets[%d]", base+i) }
	switch root.kind {
	case kArray:
		if len(root.items) > 0 && isRule(root.items[0]) {
			c.bareRules(root.items, setPath(0))
			return
		}
		for i, it := range root.items {
			if it.kind != kObject {
				c.errorf(it, setPath(i), "a policy set must be an object, found %s", it.kind)
				continue
			}
			if isRule(it) {
				c.errorf(it, setPath(i), "a rule among policy sets: an array holds either policy sets or rules")
				continue
			}
			c.doc.sets = append(c.doc.sets, c.set(it, setPath(i), base+i+1))
		}
	case kObject:
		switch {
		case root.get("policies") != nil:
			c.doc.sets = append(c.doc.sets, c.set(root, setPath(0), base+1))
		case root.get("rules") != nil:
			sp := &policySet{id: strconv.Itoa(base + 1)}
			sp.policies = []*policy{c.policy(root, setPath(0)+".policies[0]", 1)}
			c.doc.sets = append(c.doc.sets, sp)
		case root.get("effect") != nil:
			c.bareRules([]*node{root}, setPath(0))
		default:
			c.errorf(root, "", "not a policy document: expected an array of policy sets or rules, a policy set (with \"policies\"), a policy (with \"rules\") or a rule (with \"effect\")")
		}
	default:
		c.errorf(root, "", "not a policy document: expected an object or an array, found %s", root.kind)
	}
}

// bareRules wraps rules into one policy inside one set.
func (c *compiler) bareRules(items []*node, setPath string) {
	sp := &policySet{id: strconv.Itoa(len(c.doc.sets) + 1)}
	p := &policy{id: "1"}
	for i, it := range items {
		if r := c.rule(it, fmt.Sprintf("%s.policies[0].rules[%d]", setPath, i), i+1); r != nil {
			p.rules = append(p.rules, r)
		}
	}
	sp.policies = []*policy{p}
	c.doc.sets = append(c.doc.sets, sp)
}

var (
	setKeys    = []string{"id", "version", "update", "target", "policies", "policyCombiningAlgorithm", "obligations", "priority", "description"}
	policyKeys = []string{"id", "target", "rules", "ruleCombiningAlgorithm", "obligations", "priority", "description"}
	ruleKeys   = []string{"id", "target", "condition", "effect", "obligations", "priority", "description"}
)

// common reads and checks what every level shares: the keys, id, priority,
// description and target.
func (c *compiler) common(n *node, path, what string, allowed []string, pos int) (id string, priority float64, target cond, tnode *node) {
	for i, k := range n.keys {
		if !slices.Contains(allowed, k) {
			c.keyError(n, i, join(path, k), "unknown key %q in a %s (allowed: %s)", k, what, strings.Join(allowed, ", "))
		}
	}
	id = strconv.Itoa(pos)
	if v := n.get("id"); v != nil {
		switch v.kind {
		case kString, kNumber:
			id = v.str
		default:
			c.errorf(v, join(path, "id"), "id must be a string or a number, found %s", v.kind)
		}
	}
	if v := n.get("priority"); v != nil {
		if v.kind != kNumber {
			c.errorf(v, join(path, "priority"), "priority must be a number, found %s", v.kind)
		} else {
			priority = v.num
		}
	}
	if v := n.get("description"); v != nil && v.kind != kString {
		c.errorf(v, join(path, "description"), "description must be a string, found %s", v.kind)
	}
	if tnode = n.get("target"); tnode != nil {
		target = c.condition(tnode, join(path, "target"))
	}
	return id, priority, target, tnode
}

func (c *compiler) algorithm(n *node, key, path string) algorithm {
	v := n.get(key)
	if v == nil {
		return blockOverrides
	}
	if v.kind != kString {
		c.errorf(v, join(path, key), "%s must be a string, found %s", key, v.kind)
		return blockOverrides
	}
	a, ok := algorithms[v.str]
	if !ok {
		c.errorf(v, join(path, key), "unknown combining algorithm %q (known: blockOverrides, denyOverrides, allowOverrides, permitOverrides, firstApplicable)", v.str)
	}
	return a
}

// children returns the array under key, reporting a missing or wrong one.
func (c *compiler) children(n *node, key, path, what string) []*node {
	v := n.get(key)
	switch {
	case v == nil:
		c.errorf(n, path, "a %s needs %q", what, key)
	case v.kind != kArray:
		c.errorf(v, join(path, key), "%s must be an array, found %s", key, v.kind)
	default:
		return v.items
	}
	return nil
}

func (c *compiler) set(n *node, path string, pos int) *policySet {
	sp := &policySet{}
	sp.id, sp.priority, sp.target, sp.tnode = c.common(n, path, "policy set", setKeys, pos)
	sp.alg = c.algorithm(n, "policyCombiningAlgorithm", path)
	for _, k := range []string{"version", "update"} {
		if v := n.get(k); v != nil && (v.kind == kArray || v.kind == kObject) {
			c.errorf(v, join(path, k), "%s must be a string or a number, found %s", k, v.kind)
		}
	}
	for i, pn := range c.children(n, "policies", path, "policy set") {
		if p := c.policy(pn, fmt.Sprintf("%s.policies[%d]", path, i), i+1); p != nil {
			sp.policies = append(sp.policies, p)
		}
	}
	sp.obl = c.keyedObligations(n.get("obligations"), join(path, "obligations"))
	return sp
}

func (c *compiler) policy(n *node, path string, pos int) *policy {
	if n.kind != kObject {
		c.errorf(n, path, "a policy must be an object, found %s", n.kind)
		return nil
	}
	p := &policy{}
	p.id, p.priority, p.target, p.tnode = c.common(n, path, "policy", policyKeys, pos)
	p.alg = c.algorithm(n, "ruleCombiningAlgorithm", path)
	for i, rn := range c.children(n, "rules", path, "policy") {
		if r := c.rule(rn, fmt.Sprintf("%s.rules[%d]", path, i), i+1); r != nil {
			p.rules = append(p.rules, r)
		}
	}
	p.obl = c.keyedObligations(n.get("obligations"), join(path, "obligations"))
	return p
}

func (c *compiler) rule(n *node, path string, pos int) *rule {
	if n.kind != kObject {
		c.errorf(n, path, "a rule must be an object, found %s", n.kind)
		return nil
	}
	r := &rule{file: c.file, line: n.line, col: n.col, where: path}
	r.id, r.priority, r.target, r.tnode = c.common(n, path, "rule", ruleKeys, pos)
	if v := n.get("condition"); v != nil {
		r.condition = c.condition(v, join(path, "condition"))
		r.cnode = v
	}
	switch v := n.get("effect"); {
	case v == nil:
		c.errorf(n, path, "a rule needs an \"effect\" (permit or deny)")
	case v.kind != kString:
		c.errorf(v, join(path, "effect"), "effect must be \"permit\" or \"deny\", found %s", v.kind)
	case v.str == "permit":
		r.effect = Permit
	case v.str == "deny":
		r.effect = Deny
	default:
		c.errorf(v, join(path, "effect"), "unknown effect %q: must be \"permit\" or \"deny\"", v.str)
	}
	if v := n.get("obligations"); v != nil {
		r.obl = c.obligations(v, join(path, "obligations"))
	}
	return r
}

// obligations compiles an object of obligation name to parameters.
func (c *compiler) obligations(n *node, path string) []obligation {
	if n.kind == kNull {
		return nil
	}
	if n.kind != kObject {
		c.errorf(n, path, "obligations must be an object of obligation name to parameters, found %s", n.kind)
		return nil
	}
	out := make([]obligation, 0, len(n.keys))
	for i, name := range n.keys {
		params, dyn := c.params(n.items[i], join(path, name))
		out = append(out, obligation{name: name, params: params, dynamic: dyn})
	}
	return out
}

// keyedObligations compiles a policy's or set's obligations, keyed by decision.
func (c *compiler) keyedObligations(n *node, path string) keyed {
	var k keyed
	if n == nil || n.kind == kNull {
		return k
	}
	if n.kind != kObject {
		c.errorf(n, path, "obligations of a policy or policy set must be an object keyed by decision (permit, deny), found %s", n.kind)
		return k
	}
	for i, key := range n.keys {
		switch key {
		case "permit":
			k.permit = c.obligations(n.items[i], join(path, key))
		case "deny":
			k.deny = c.obligations(n.items[i], join(path, key))
		default:
			c.keyError(n, i, join(path, key), "obligations of a policy or policy set are keyed by decision: %q is neither permit nor deny", key)
		}
	}
	return k
}

// slot returns the attribute slot of a canonical attribute name.
func (c *compiler) slot(name string) int {
	if i, ok := c.slots[name]; ok {
		return i
	}
	i := len(c.doc.attrNames)
	c.slots[name] = i
	c.doc.attrNames = append(c.doc.attrNames, name)
	c.doc.fold = append(c.doc.fold, name == "weekday")
	return i
}

// link orders children by priority, precomputes each rule's outcome,
// builds the indexes and counts the elements.
func (c *compiler) link() {
	d := c.doc
	for si, sp := range d.sets {
		if sp.id == "" {
			sp.id = strconv.Itoa(si + 1)
		}
		sp.path = "PolicySet " + sp.id
		slices.SortStableFunc(sp.policies, func(a, b *policy) int { return cmpPriority(a.priority, b.priority) })
		for _, p := range sp.policies {
			p.path = sp.path + " | Policy " + p.id
			slices.SortStableFunc(p.rules, func(a, b *rule) int { return cmpPriority(a.priority, b.priority) })
			for _, r := range p.rules {
				r.path = p.path + " | Rule " + r.id
				r.out = c.outcome(r, p, sp)
				r.index = d.nrules
				d.nrules++
			}
			p.index = c.buildIndex(len(p.rules), func(i int) []*node { return []*node{p.rules[i].tnode, p.rules[i].cnode} })
			d.npolicies++
		}
		sp.index = c.buildIndex(len(sp.policies), func(i int) []*node { return []*node{sp.policies[i].tnode} })
		d.nsets++
	}
	d.setIndex = c.buildIndex(len(d.sets), func(i int) []*node { return []*node{d.sets[i].tnode} })
	// The nodes are no longer needed once indexes are built.
	for _, sp := range d.sets {
		sp.tnode = nil
		for _, p := range sp.policies {
			p.tnode = nil
			for _, r := range p.rules {
				r.tnode, r.obl = nil, nil
			}
		}
	}
}

func cmpPriority(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// outcome gathers the obligations of a decision by r, in the order rule,
// policy, set, and splits off the advice.
func (c *compiler) outcome(r *rule, p *policy, sp *policySet) outcome {
	o := outcome{path: r.path}
	all := slices.Concat(r.obl, p.obl.of(r.effect), sp.obl.of(r.effect))
	dynamic := false
	for _, ob := range all {
		dynamic = dynamic || ob.dynamic
		if c.advice[ob.name] {
			o.advice = append(o.advice, Obligation{Name: ob.name, Params: ob.params})
		} else {
			o.obligations = append(o.obligations, Obligation{Name: ob.name, Params: ob.params})
		}
	}
	if dynamic {
		o.dynamic = all
		o.obligations, o.advice = nil, nil
	}
	return o
}
