package pdl

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// cond is a compiled condition or target. A nil cond is always true.
type cond func(*state) bool

// expr is a compiled expression over one attribute's value. A nil expr is
// always true.
type expr func(s *state, v any) bool

func never(*state) bool { return false }

// test is a compiled test of either kind: a condition, or an expression
// over one attribute's value. A nil test is always true. The language
// combines both kinds the same way (anyOf, allOf, not, arrays and
// objects), so that logic is written once, over test, in logic below.
type test interface{ cond | expr }

// allOf is the conjunction of ts; nil entries are true, so an empty or
// all-nil list is nil. every builds the conjunction of two or more.
func allOf[F test](ts []F, every func([]F) F) F {
	live := ts[:0:0]
	for _, t := range ts {
		if t != nil {
			live = append(live, t)
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	return every(live)
}

// anyOf is the disjunction of ts; a nil entry makes it true (nil), and an
// empty list is never. some builds the disjunction of two or more.
func anyOf[F test](ts []F, never F, some func([]F) F) F {
	if len(ts) == 0 {
		return never
	}
	for _, t := range ts {
		if t == nil {
			return nil
		}
	}
	if len(ts) == 1 {
		return ts[0]
	}
	return some(ts)
}

func everyCond(cs []cond) cond {
	if len(cs) == 2 {
		a, b := cs[0], cs[1]
		return func(s *state) bool { return a(s) && b(s) }
	}
	return func(s *state) bool {
		for _, c := range cs {
			if !c(s) {
				return false
			}
		}
		return true
	}
}

func someCond(cs []cond) cond {
	return func(s *state) bool {
		for _, c := range cs {
			if c(s) {
				return true
			}
		}
		return false
	}
}

func notCond(c cond) cond {
	if c == nil {
		return never
	}
	return func(s *state) bool { return !c(s) }
}

func neverExpr(*state, any) bool { return false }

func everyExpr(es []expr) expr {
	return func(s *state, v any) bool {
		for _, e := range es {
			if !e(s, v) {
				return false
			}
		}
		return true
	}
}

func someExpr(es []expr) expr {
	return func(s *state, v any) bool {
		for _, e := range es {
			if e(s, v) {
				return true
			}
		}
		return false
	}
}

func notExpr(e expr) expr {
	if e == nil {
		return neverExpr
	}
	return func(s *state, v any) bool { return !e(s, v) }
}

// algebra is what logic needs to know of one kind of test.
type algebra[F test] struct {
	// what names the kind in problems: "conditions" or "expressions".
	what        string
	never       F
	every, some func([]F) F
	not         func(F) F
	// notJunction is the problem of a value that is neither an object
	// nor an array.
	notJunction string
}

// logic compiles the logical structure shared by conditions and
// expressions: an array is any of its elements, an object all of its
// entries, anyOf and allOf take an array, not negates; every other key
// is a leaf of the kind.
func logic[F test](c *compiler, n *node, path string, slot int, a *algebra[F]) F {
	switch n.kind {
	case kArray:
		if len(n.items) == 0 {
			return nil
		}
		ts := make([]F, len(n.items))
		for i, it := range n.items {
			ts[i] = logic(c, it, fmt.Sprintf("%s[%d]", path, i), slot, a)
		}
		return anyOf(ts, a.never, a.some)
	case kObject:
		ts := make([]F, 0, len(n.keys))
		for i, k := range n.keys {
			v, p := n.items[i], join(path, k)
			switch k {
			case "anyOf", "allOf":
				if v.kind != kArray {
					c.errorf(v, p, "%s takes an array of %s, found %s", k, a.what, v.kind)
					continue
				}
				sub := make([]F, len(v.items))
				for j, it := range v.items {
					sub[j] = logic(c, it, fmt.Sprintf("%s[%d]", p, j), slot, a)
				}
				if k == "anyOf" {
					ts = append(ts, anyOf(sub, a.never, a.some))
				} else {
					ts = append(ts, allOf(sub, a.every))
				}
			case "not":
				ts = append(ts, a.not(logic(c, v, p, slot, a)))
			default:
				if t, ok := leaf[F](c, n, i, p, slot); ok {
					ts = append(ts, t)
				}
			}
		}
		return allOf(ts, a.every)
	}
	c.errorf(n, path, a.notJunction, n.kind)
	return nil
}

// operators lists every comparison operator of the language.
var operators = map[string]bool{
	"equals": true, "moreThan": true, "lessThan": true, "in": true, "contains": true,
	"between": true, "like": true, "exists": true,
	"matches": true, "startsWith": true, "endsWith": true, "inCIDR": true, "atLeast": true, "atMost": true,
}

// attrName strips angle brackets and resolves aliases.
func (c *compiler) attrName(key string) string {
	if len(key) > 2 && key[0] == '<' && key[len(key)-1] == '>' {
		key = key[1 : len(key)-1]
	}
	if canon, ok := c.opts.Aliases[key]; ok {
		return canon
	}
	return key
}

// conditions is the algebra of conditions: a leaf is an attribute test.
var conditions = &algebra[cond]{
	what: "conditions", never: never, every: everyCond, some: someCond, not: notCond,
	notJunction: "a condition must be an object (all of) or an array (any of), found %s",
}

// condition compiles a target or condition.
func (c *compiler) condition(n *node, path string) cond {
	return logic(c, n, path, -1, conditions)
}

// attribute compiles the test of key i of object n on one attribute.
func (c *compiler) attribute(n *node, i int, path string) cond {
	name := c.attrName(n.keys[i])
	if name == "" {
		c.keyError(n, i, path, "empty attribute name")
		return nil
	}
	if c.opts.Known != nil && !c.opts.Known(name) {
		c.keyError(n, i, path, "unknown attribute %q", name)
		return nil
	}
	slot := c.slot(name)
	e := c.expression(n.items[i], path, slot)
	if e == nil {
		return nil
	}
	return func(s *state) bool { return e(s, s.get(slot)) }
}

// expressions is the algebra of expressions: a leaf is an operator.
var expressions = &algebra[expr]{
	what: "expressions", never: neverExpr, every: everyExpr, some: someExpr, not: notExpr,
	notJunction: "an attribute takes an object of operator to parameter, e.g. {\"equals\": ...}, found %s",
}

// leaf compiles key i of object n, which is none of anyOf, allOf and not:
// for a condition, a test of the attribute it names; for an expression
// over the attribute in slot, an operator. ok is false when it reported a
// problem. It is called directly rather than through the algebra, so that
// the compiler does not escape to the heap.
func leaf[F test](c *compiler, n *node, i int, p string, slot int) (t F, ok bool) {
	k := n.keys[i]
	switch any(t).(type) {
	case cond:
		if operators[k] {
			c.keyError(n, i, p, "operator %q needs an attribute: write {\"<attribute>\": {%q: ...}}", k, k)
			return t, false
		}
		return any(c.attribute(n, i, p)).(F), true
	default:
		if !operators[k] {
			c.keyError(n, i, p, "unknown operator %q (known: equals, moreThan, lessThan, atLeast, atMost, in, contains, between, like, exists, matches, startsWith, endsWith, inCIDR, and anyOf, allOf, not)", k)
			return t, false
		}
		return any(c.operator(k, n.items[i], p, slot)).(F), true
	}
}

// expression compiles the right-hand side of a test of the attribute in
// slot.
func (c *compiler) expression(n *node, path string, slot int) expr {
	return logic(c, n, path, slot, expressions)
}

// operand is a parameter: a literal, or a reference to another attribute.
type operand struct {
	lit any
	ref int // attribute slot, or -1
}

func (o operand) get(s *state) any {
	if o.ref < 0 {
		return o.lit
	}
	return s.get(o.ref)
}

// reference reports whether a string parameter is written "<attr>".
func reference(str string) (string, bool) {
	if len(str) > 2 && str[0] == '<' && str[len(str)-1] == '>' && !strings.ContainsAny(str[1:len(str)-1], "<> ") {
		return str[1 : len(str)-1], true
	}
	return "", false
}

// operand compiles one parameter value; refs says whether references are allowed.
func (c *compiler) operand(n *node, path, op string, refs bool) (operand, bool) {
	if n.kind == kString {
		if name, ok := reference(n.str); ok {
			if !refs {
				c.errorf(n, path, "%s takes literal parameters only, not the attribute reference %q", op, n.str)
				return operand{}, false
			}
			name = c.attrName(name)
			if c.opts.Known != nil && !c.opts.Known(name) {
				c.errorf(n, path, "unknown attribute %q in parameter reference", name)
				return operand{}, false
			}
			return operand{ref: c.slot(name)}, true
		}
	}
	return operand{lit: n.value(), ref: -1}, true
}

// alternatives returns the elements of an array parameter, or the parameter itself.
func alternatives(n *node) []*node {
	if n.kind == kArray {
		return n.items
	}
	return []*node{n}
}

// operator compiles one operator entry.
func (c *compiler) operator(op string, n *node, path string, slot int) expr {
	fold := c.doc.fold[slot]
	var tests []func(s *state, v any) bool
	var params []any
	add := func(p any, t func(s *state, v any) bool) {
		tests = append(tests, t)
		params = append(params, p)
	}
	elemPath := func(i int) string {
		if n.kind == kArray {
			return fmt.Sprintf("%s[%d]", path, i)
		}
		return path
	}
	switch op {
	case "in":
		var ops []operand
		for i, it := range alternatives(n) {
			if it.kind == kArray || it.kind == kObject {
				c.errorf(it, elemPath(i), "in takes a list of values, found %s inside it", it.kind)
				continue
			}
			o, ok := c.operand(it, elemPath(i), op, true)
			if ok {
				ops = append(ops, o)
			}
		}
		add(n.value(), inTest(ops, fold))
	case "equals":
		for i, it := range alternatives(n) {
			o, ok := c.operand(it, elemPath(i), op, true)
			if !ok {
				continue
			}
			add(it.value(), equalsTest(o, fold))
		}
	case "moreThan", "lessThan", "atLeast", "atMost":
		for i, it := range alternatives(n) {
			o, ok := c.operand(it, elemPath(i), op, true)
			if !ok {
				continue
			}
			if o.ref < 0 {
				f, isNum := number(o.lit)
				if !isNum || (it.kind != kNumber && it.kind != kString) {
					c.errorf(it, elemPath(i), "%s takes a number, found %s", op, describe(it))
					continue
				}
				o.lit = f
			}
			add(it.value(), compareTest(op, o))
		}
	case "contains":
		for i, it := range alternatives(n) {
			o, ok := c.operand(it, elemPath(i), op, true)
			if !ok {
				continue
			}
			add(it.value(), containsTest(o, fold))
		}
	case "startsWith", "endsWith":
		for i, it := range alternatives(n) {
			if it.kind != kString && it.kind != kNumber {
				c.errorf(it, elemPath(i), "%s takes a string, found %s", op, it.kind)
				continue
			}
			o, ok := c.operand(it, elemPath(i), op, true)
			if !ok {
				continue
			}
			if o.ref < 0 {
				o.lit = it.str
			}
			add(it.value(), affixTest(op == "startsWith", o))
		}
	case "exists":
		for i, it := range alternatives(n) {
			want, ok := false, false
			switch {
			case it.kind == kBool:
				want, ok = it.b, true
			case it.kind == kString && (it.str == "true" || it.str == "false"):
				want, ok = it.str == "true", true
			}
			if !ok {
				c.errorf(it, elemPath(i), "exists takes true or false, found %s", describe(it))
				continue
			}
			add(want, func(_ *state, v any) bool { return (v != nil) == want })
		}
	case "between":
		for i, it := range alternatives(n) {
			if it.kind != kString {
				c.errorf(it, elemPath(i), "between takes a range written \"low high\", found %s", describe(it))
				continue
			}
			if _, isRef := reference(it.str); isRef {
				c.errorf(it, elemPath(i), "between takes literal parameters only, not the attribute reference %q", it.str)
				continue
			}
			r, err := parseRange(it.str)
			if err != nil {
				c.errorf(it, elemPath(i), "%v", err)
				continue
			}
			add(it.str, r.test)
		}
	case "like":
		for i, it := range alternatives(n) {
			if it.kind != kString {
				c.errorf(it, elemPath(i), "like takes a pattern string, found %s", describe(it))
				continue
			}
			if _, isRef := reference(it.str); isRef {
				c.errorf(it, elemPath(i), "like takes literal parameters only, not the attribute reference %q", it.str)
				continue
			}
			g := compileGlob(it.str)
			add(it.str, func(_ *state, v any) bool {
				str, ok := text(v)
				return ok && g.match(str)
			})
		}
	case "matches":
		for i, it := range alternatives(n) {
			if it.kind != kString {
				c.errorf(it, elemPath(i), "matches takes a regular expression string, found %s", describe(it))
				continue
			}
			if _, isRef := reference(it.str); isRef {
				c.errorf(it, elemPath(i), "matches takes literal parameters only, not the attribute reference %q", it.str)
				continue
			}
			_, err := regexp.Compile(it.str)
			var re *regexp.Regexp
			if err == nil {
				re, err = regexp.Compile(`^(?:` + it.str + `)$`)
			}
			if err != nil {
				c.errorf(it, elemPath(i), "bad regular expression %q: %v", it.str, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				continue
			}
			add(it.str, func(_ *state, v any) bool {
				str, ok := text(v)
				return ok && re.MatchString(str)
			})
		}
	case "inCIDR":
		var prefixes []netip.Prefix
		for i, it := range alternatives(n) {
			if it.kind != kString {
				c.errorf(it, elemPath(i), "inCIDR takes a CIDR string such as \"10.0.0.0/8\", found %s", describe(it))
				continue
			}
			if _, isRef := reference(it.str); isRef {
				c.errorf(it, elemPath(i), "inCIDR takes literal parameters only, not the attribute reference %q", it.str)
				continue
			}
			pfx, err := parseCIDR(it.str)
			if err != nil {
				c.errorf(it, elemPath(i), "bad CIDR %q: %v", it.str, err)
				continue
			}
			prefixes = append(prefixes, pfx)
		}
		add(n.value(), func(_ *state, v any) bool {
			str, ok := v.(string)
			if !ok {
				return false
			}
			addr, err := netip.ParseAddr(str)
			if err != nil {
				return false
			}
			addr = addr.Unmap()
			for _, p := range prefixes {
				if p.Contains(addr) {
					return true
				}
			}
			return false
		})
	}
	es := make([]expr, len(tests))
	for i, t := range tests {
		es[i] = c.traced(t, op, params[i], path, slot)
	}
	return anyOf(es, neverExpr, someExpr)
}

// traced wraps a test so that it records a compare step when explaining.
func (c *compiler) traced(t func(s *state, v any) bool, op string, param any, path string, slot int) expr {
	name := c.doc.attrNames[slot]
	return func(s *state, v any) bool {
		r := t(s, v)
		if s.trace != nil {
			s.step(Step{Path: s.at, Kind: "compare", Where: path, Attribute: name, Operator: op, Value: v, Param: param, Result: boolText(r)})
		}
		return r
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func describe(n *node) string {
	switch n.kind {
	case kString:
		return fmt.Sprintf("%q", n.str)
	case kNumber:
		return n.str
	case kBool:
		return boolText(n.b)
	}
	return n.kind.String()
}

func equalsTest(o operand, fold bool) func(s *state, v any) bool {
	if o.ref < 0 {
		if str, ok := o.lit.(string); ok {
			if str == "*" {
				return func(_ *state, v any) bool { return v != nil }
			}
			if !fold {
				return func(_ *state, v any) bool {
					if sv, ok := v.(string); ok {
						return sv == str
					}
					return equal(v, str, false)
				}
			}
		}
		lit := o.lit
		return func(_ *state, v any) bool { return equal(v, lit, fold) }
	}
	return func(s *state, v any) bool {
		if v == nil {
			return false
		}
		p := o.get(s)
		if p == "*" {
			return true
		}
		return equal(v, p, fold)
	}
}

func inTest(ops []operand, fold bool) func(s *state, v any) bool {
	var set map[string]struct{}
	static := true
	for _, o := range ops {
		if _, ok := o.lit.(string); !ok || o.ref >= 0 {
			static = false
		}
	}
	if static && !fold && len(ops) >= 8 {
		set = make(map[string]struct{}, len(ops))
		for _, o := range ops {
			set[o.lit.(string)] = struct{}{}
		}
	}
	return func(s *state, v any) bool {
		if v == nil {
			return false
		}
		if set != nil {
			if sv, ok := v.(string); ok {
				_, hit := set[sv]
				return hit
			}
		}
		for _, o := range ops {
			p := o.get(s)
			if o.ref >= 0 {
				// A reference to a list attribute is the list itself.
				if _, isList := listLen(p); isList {
					if anyItem(p, func(e any) bool { return equal(v, e, fold) }) {
						return true
					}
					continue
				}
			}
			if equal(v, p, fold) {
				return true
			}
		}
		return false
	}
}

func compareTest(op string, o operand) func(s *state, v any) bool {
	cmp := map[string]func(a, b float64) bool{
		"moreThan": func(a, b float64) bool { return a > b },
		"lessThan": func(a, b float64) bool { return a < b },
		"atLeast":  func(a, b float64) bool { return a >= b },
		"atMost":   func(a, b float64) bool { return a <= b },
	}[op]
	if o.ref < 0 {
		p := o.lit.(float64)
		return func(_ *state, v any) bool {
			m, ok := magnitude(v)
			return ok && cmp(m, p)
		}
	}
	return func(s *state, v any) bool {
		m, ok := magnitude(v)
		if !ok {
			return false
		}
		p, ok := number(o.get(s))
		return ok && cmp(m, p)
	}
}

func containsTest(o operand, fold bool) func(s *state, v any) bool {
	return func(s *state, v any) bool {
		if v == nil {
			return false
		}
		p := o.get(s)
		if p == nil {
			return false
		}
		if sv, ok := v.(string); ok {
			ps, ok := text(p)
			if !ok {
				return false
			}
			if fold {
				return strings.Contains(strings.ToLower(sv), strings.ToLower(ps))
			}
			return strings.Contains(sv, ps)
		}
		return anyItem(v, func(e any) bool { return equal(e, p, fold) })
	}
}

func affixTest(prefix bool, o operand) func(s *state, v any) bool {
	if lit, ok := text(o.lit); ok && o.ref < 0 {
		// A literal affix, the common case: converted once, here.
		return func(_ *state, v any) bool {
			str, ok := v.(string)
			if !ok {
				if str, ok = text(v); !ok {
					return false
				}
			}
			if prefix {
				return strings.HasPrefix(str, lit)
			}
			return strings.HasSuffix(str, lit)
		}
	}
	return func(s *state, v any) bool {
		str, ok := text(v)
		if !ok {
			return false
		}
		p, ok := text(o.get(s))
		if !ok {
			return false
		}
		if prefix {
			return strings.HasPrefix(str, p)
		}
		return strings.HasSuffix(str, p)
	}
}

func parseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}
