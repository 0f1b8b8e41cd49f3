package pdl

import (
	"sort"
	"strings"
)

// index narrows the children of one level (the sets of a document, the
// policies of a set, the rules of a policy) to those that can apply, from
// the value of the one attribute that most of them constrain: to a set of
// strings (equals, in) or to a set of prefixes (startsWith), in their
// targets or, for rules, their conditions.
type index struct {
	slot       int                // attribute slot, or -1 when the level is not indexed
	byKey      map[string][]int32 // value → children that may apply, in order
	byPrefix   map[string][]int32 // prefix → children that may apply to a value starting with it, when no key matches
	prefixLens []int              // the lengths of the prefixes in byPrefix, longest first
	rest       []int32            // children that do not constrain the attribute
	all        []int32            // every child, in order
}

// minIndexed is the number of children below which a scan is as fast as a look-up.
const minIndexed = 4

// candidates returns the positions of the children that may apply.
func (ix *index) candidates(s *state) []int32 {
	if ix.slot < 0 {
		return ix.all
	}
	switch v := s.get(ix.slot).(type) {
	case string:
		if l, ok := ix.byKey[v]; ok {
			return l
		}
		// The longest prefix the value starts with: its list holds the
		// children of every shorter one too.
		for _, n := range ix.prefixLens {
			if n <= len(v) {
				if l, ok := ix.byPrefix[v[:n]]; ok {
					return l
				}
			}
		}
		return ix.rest
	case nil:
		return ix.rest
	}
	return ix.all
}

// keySet is what a child requires of one attribute's value: to be one of
// exact, or to start with one of prefix.
type keySet struct {
	exact, prefix []string
}

func (k keySet) union(o keySet) keySet {
	return keySet{exact: append(append([]string(nil), k.exact...), o.exact...),
		prefix: append(append([]string(nil), k.prefix...), o.prefix...)}
}

// buildIndex chooses the attribute that the most children constrain and
// indexes the children on it. nodes returns a child's target and, for a
// rule, its condition: both must hold, so either one's constraint will do.
func (c *compiler) buildIndex(n int, nodes func(i int) []*node) index {
	ix := index{slot: -1, all: make([]int32, n)}
	for i := range ix.all {
		ix.all[i] = int32(i)
	}
	if n < minIndexed {
		return ix
	}
	keys := make([]map[string]keySet, n)
	count := map[string]int{}
	var order []string
	for i := 0; i < n; i++ {
		for _, nd := range nodes(i) {
			if nd == nil {
				continue
			}
			for attr, ks := range c.condKeys(nd) {
				if keys[i] == nil {
					keys[i] = map[string]keySet{}
				}
				if _, ok := keys[i][attr]; !ok {
					keys[i][attr] = ks
				}
			}
		}
		for attr := range keys[i] {
			if count[attr] == 0 {
				order = append(order, attr)
			}
			count[attr]++
		}
	}
	best := ""
	for _, attr := range order {
		if count[attr] > count[best] {
			best = attr
		}
	}
	if count[best] < 2 {
		return ix
	}
	ix.slot = c.slots[best]
	ix.byKey = map[string][]int32{}
	var exact, prefixes []string
	seenKey, seenPrefix := map[string]bool{}, map[string]bool{}
	for i := 0; i < n; i++ {
		ks, keyed := keys[i][best]
		if !keyed {
			ix.rest = append(ix.rest, int32(i))
			continue
		}
		for _, k := range ks.exact {
			if !seenKey[k] {
				seenKey[k] = true
				exact = append(exact, k)
			}
		}
		for _, p := range ks.prefix {
			if !seenPrefix[p] {
				seenPrefix[p] = true
				prefixes = append(prefixes, p)
			}
		}
	}
	// Each list holds, in document order, the children that do not
	// constrain the attribute and those that admit the key or prefix.
	// Children are added in order, so each list stays sorted; a child
	// admitted twice (by a key and a prefix) is added once.
	add := func(l []int32, i int) []int32 {
		if len(l) == 0 || l[len(l)-1] != int32(i) {
			l = append(l, int32(i))
		}
		return l
	}
	if len(prefixes) > 0 {
		ix.byPrefix = map[string][]int32{}
	}
	for i := 0; i < n; i++ {
		ks, keyed := keys[i][best]
		if !keyed {
			for _, k := range exact {
				ix.byKey[k] = add(ix.byKey[k], i)
			}
			for _, p := range prefixes {
				ix.byPrefix[p] = add(ix.byPrefix[p], i)
			}
			continue
		}
		for _, k := range ks.exact {
			ix.byKey[k] = add(ix.byKey[k], i)
		}
		for _, q := range ks.prefix {
			// A value equal to key k starts with q when k does; a
			// value whose longest listed prefix is p starts with q when
			// p does.
			for _, k := range exact {
				if strings.HasPrefix(k, q) {
					ix.byKey[k] = add(ix.byKey[k], i)
				}
			}
			for _, p := range prefixes {
				if strings.HasPrefix(p, q) {
					ix.byPrefix[p] = add(ix.byPrefix[p], i)
				}
			}
		}
	}
	if len(prefixes) > 0 {
		lens := map[int]bool{}
		for _, p := range prefixes {
			if !lens[len(p)] {
				lens[len(p)] = true
				ix.prefixLens = append(ix.prefixLens, len(p))
			}
		}
		sort.Sort(sort.Reverse(sort.IntSlice(ix.prefixLens)))
	}
	return ix
}

// condKeys returns, for each attribute a condition constrains to a finite
// set of strings or of prefixes, that set: the condition cannot hold when
// the attribute's value is a string outside it, or missing.
func (c *compiler) condKeys(n *node) map[string]keySet {
	switch n.kind {
	case kArray:
		return c.anyKeys(n.items)
	case kObject:
		var out map[string]keySet
		merge := func(m map[string]keySet) {
			for k, v := range m {
				if out == nil {
					out = map[string]keySet{}
				}
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
		for i, k := range n.keys {
			v := n.items[i]
			switch k {
			case "not":
			case "anyOf":
				if v.kind == kArray {
					merge(c.anyKeys(v.items))
				}
			case "allOf":
				if v.kind == kArray {
					for _, it := range v.items {
						merge(c.condKeys(it))
					}
				}
			default:
				name := c.attrName(k)
				if name == "weekday" {
					continue
				}
				if ks, ok := exprKeys(v); ok {
					merge(map[string]keySet{name: ks})
				}
			}
		}
		return out
	}
	return nil
}

// anyKeys constrains an attribute when every alternative does.
func (c *compiler) anyKeys(items []*node) map[string]keySet {
	if len(items) == 0 {
		return nil
	}
	var out map[string]keySet
	for i, it := range items {
		m := c.condKeys(it)
		if i == 0 {
			out = map[string]keySet{}
			for k, v := range m {
				out[k] = keySet{}.union(v)
			}
			continue
		}
		for k := range out {
			if ks, ok := m[k]; ok {
				out[k] = out[k].union(ks)
			} else {
				delete(out, k)
			}
		}
	}
	return out
}

// exprKeys returns what an expression requires of its value: to equal
// one of some strings, or to start with one of some prefixes.
func exprKeys(n *node) (keySet, bool) {
	switch n.kind {
	case kArray:
		if len(n.items) == 0 {
			return keySet{}, false
		}
		var out keySet
		for _, it := range n.items {
			ks, ok := exprKeys(it)
			if !ok {
				return keySet{}, false
			}
			out = out.union(ks)
		}
		return out, true
	case kObject:
		for i, k := range n.keys {
			v := n.items[i]
			switch k {
			case "equals", "in":
				if ks, ok := literalStrings(v); ok {
					return keySet{exact: ks}, true
				}
			case "startsWith":
				if ps, ok := literalStrings(v); ok {
					return keySet{prefix: ps}, true
				}
			case "allOf":
				if v.kind == kArray {
					for _, it := range v.items {
						if ks, ok := exprKeys(it); ok {
							return ks, true
						}
					}
				}
			case "anyOf":
				if v.kind == kArray {
					if ks, ok := exprKeys(&node{kind: kArray, items: v.items}); ok {
						return ks, true
					}
				}
			}
		}
	}
	return keySet{}, false
}

// literalStrings returns a string parameter or list of them, when none is a
// wildcard or an attribute reference.
func literalStrings(n *node) ([]string, bool) {
	var out []string
	for _, it := range alternatives(n) {
		if it.kind != kString || it.str == "*" {
			return nil, false
		}
		if _, ref := reference(it.str); ref {
			return nil, false
		}
		out = append(out, it.str)
	}
	return out, len(out) > 0
}
