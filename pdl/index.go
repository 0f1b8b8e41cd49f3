package pdl

// index narrows the children of one level (the sets of a document, the
// policies of a set, the rules of a policy) to those whose target can hold,
// from the value of one attribute that most targets test for equality.
type index struct {
	slot  int                // attribute slot, or -1 when the level is not indexed
	byKey map[string][]int32 // value → children that may apply, in order
	rest  []int32            // children whose target does not constrain the attribute
	all   []int32            // every child, in order
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
		return ix.rest
	case nil:
		return ix.rest
	}
	return ix.all
}

// buildIndex chooses the attribute that the most targets constrain and
// indexes the children on it.
func (c *compiler) buildIndex(n int, target func(i int) *node) index {
	ix := index{slot: -1, all: make([]int32, n)}
	for i := range ix.all {
		ix.all[i] = int32(i)
	}
	if n < minIndexed {
		return ix
	}
	keys := make([]map[string][]string, n)
	count := map[string]int{}
	var order []string
	for i := 0; i < n; i++ {
		if t := target(i); t != nil {
			keys[i] = c.condKeys(t)
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
	// Every key's list holds the children keyed on it and the unkeyed ones,
	// in document order.
	for i := 0; i < n; i++ {
		ks, keyed := keys[i][best]
		if !keyed {
			ix.rest = append(ix.rest, int32(i))
			for k := range ix.byKey {
				ix.byKey[k] = append(ix.byKey[k], int32(i))
			}
			continue
		}
		for _, k := range ks {
			l, seen := ix.byKey[k]
			if !seen {
				l = append([]int32(nil), ix.rest...)
			}
			if len(l) == 0 || l[len(l)-1] != int32(i) {
				l = append(l, int32(i))
			}
			ix.byKey[k] = l
		}
	}
	return ix
}

// condKeys returns, for each attribute a condition constrains to a finite
// set of strings, that set: the condition cannot hold when the attribute's
// value is a string outside it, or missing.
func (c *compiler) condKeys(n *node) map[string][]string {
	switch n.kind {
	case kArray:
		return c.anyKeys(n.items)
	case kObject:
		var out map[string][]string
		merge := func(m map[string][]string) {
			for k, v := range m {
				if out == nil {
					out = map[string][]string{}
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
					merge(map[string][]string{name: ks})
				}
			}
		}
		return out
	}
	return nil
}

// anyKeys constrains an attribute when every alternative does.
func (c *compiler) anyKeys(items []*node) map[string][]string {
	if len(items) == 0 {
		return nil
	}
	var out map[string][]string
	for i, it := range items {
		m := c.condKeys(it)
		if i == 0 {
			out = map[string][]string{}
			for k, v := range m {
				out[k] = append([]string(nil), v...)
			}
			continue
		}
		for k := range out {
			if ks, ok := m[k]; ok {
				out[k] = append(out[k], ks...)
			} else {
				delete(out, k)
			}
		}
	}
	return out
}

// exprKeys returns the strings an expression requires its value to equal.
func exprKeys(n *node) ([]string, bool) {
	switch n.kind {
	case kArray:
		if len(n.items) == 0 {
			return nil, false
		}
		var out []string
		for _, it := range n.items {
			ks, ok := exprKeys(it)
			if !ok {
				return nil, false
			}
			out = append(out, ks...)
		}
		return out, true
	case kObject:
		for i, k := range n.keys {
			v := n.items[i]
			switch k {
			case "equals", "in":
				if ks, ok := literalStrings(v); ok {
					return ks, true
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
	return nil, false
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
