package rethink

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/verdict-policy/verdict/pdl"
)

// Obligation names the enforcer carries out. Any other name is advice.
const (
	obligationLimit       = "limitByNumberOfEntries"
	obligationLimitOld    = "limitNumber"
	obligationFilter      = "limitByConditionOfEntries"
	entryPrefix           = "entry:"
	maxCachedFilterParams = 1024
)

// writable maps the attributes obligations may change to where they live:
// in body (bodyValue) or in body.value (the rest).
var writable = map[string]struct {
	inBody bool
	key    string
}{
	"valueAllocated": {false, "allocated"},
	"valueAllocate":  {false, "allocated"},
	"valueResources": {false, "resources"},
	"valueNumber":    {false, "number"},
	"bodyValue":      {true, "value"},
}

// slot returns the object holding attr and its key there, or nil when the
// message has no such object.
func (a *attributes) slot(attr string) (map[string]any, string, error) {
	w, ok := writable[strings.Trim(attr, "<>")]
	if !ok {
		return nil, "", fmt.Errorf("attribute %q cannot be changed; writable are bodyValue, valueAllocated, valueNumber and valueResources", attr)
	}
	if w.inBody {
		return a.body, w.key, nil
	}
	return a.val, w.key, nil
}

// apply carries out the obligations of a permit on the message, in order.
// A first pass checks every obligation's parameters without touching the
// message, so that an obligation that cannot be applied leaves the message
// as it was.
func (e *Enforcer) apply(a *attributes, obs []pdl.Obligation) error {
	for _, write := range [2]bool{false, true} {
		for _, ob := range obs {
			var err error
			switch ob.Name {
			case obligationLimit, obligationLimitOld:
				err = a.limit(ob.Params, write)
			case obligationFilter:
				err = e.filter(a, ob.Params, write)
			default:
				if e.strict {
					err = fmt.Errorf("the enforcer does not know this obligation")
				}
			}
			if err != nil {
				return fmt.Errorf("obligation %s: %w", ob.Name, err)
			}
		}
	}
	return nil
}

// limit keeps the first N entries of each named list: {attr: N}. A number
// (valueNumber) is lowered to N; any other value is left alone. Without
// write it only checks the parameters.
func (a *attributes) limit(params any, write bool) error {
	m, ok := params.(map[string]any)
	if !ok {
		return fmt.Errorf("parameters must be an object of attribute to count, not %s", kindOf(params))
	}
	for attr, nv := range m {
		n, ok := count(nv)
		if !ok {
			return fmt.Errorf("%s: the count must be a whole number of at least 0, not %v", attr, nv)
		}
		obj, key, err := a.slot(attr)
		if err != nil {
			return err
		}
		if obj == nil || !write {
			continue
		}
		switch v := obj[key].(type) {
		case []any:
			if len(v) > n {
				obj[key] = v[:n:n]
			}
		case float64:
			if v > float64(n) {
				obj[key] = float64(n)
			}
		}
	}
	a.refresh()
	return nil
}

// refresh reads body.value again after an obligation replaced it.
func (a *attributes) refresh() {
	if a.body != nil {
		a.val, _ = a.body["value"].(map[string]any)
	}
}

// count reads an entry count: a whole number >= 0, possibly as a string (a
// template renders to one).
func count(v any) (int, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case string:
		if err := json.Unmarshal([]byte(strings.TrimSpace(x)), &f); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// entryFilter is the compiled condition on the entries of one attribute.
type entryFilter struct {
	attr string
	doc  *pdl.Document
}

// filterSet is the compiled form of one obligation's parameters; it keeps
// the parameters alive so their address is not reused while cached.
type filterSet struct {
	params  map[string]any
	filters []entryFilter
}

// filtersFor compiles the parameters {attr: {field: expression}} of a
// limitByConditionOfEntries obligation, once per parameter object: a
// document's obligations are the same objects decision after decision.
func (e *Enforcer) filtersFor(params any) ([]entryFilter, error) {
	m, ok := params.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parameters must be an object of attribute to entry condition, not %s", kindOf(params))
	}
	key := reflect.ValueOf(m).UnsafePointer()
	if fs, ok := e.filters.Load(key); ok {
		return fs.(*filterSet).filters, nil
	}
	attrs := make([]string, 0, len(m))
	for k := range m {
		attrs = append(attrs, k)
	}
	slices.Sort(attrs)
	fs := &filterSet{params: m}
	for _, attr := range attrs {
		doc, err := compileEntryCondition(attr, m[attr])
		if err != nil {
			return nil, err
		}
		fs.filters = append(fs.filters, entryFilter{attr: attr, doc: doc})
	}
	// Templated parameters are new objects each time: cache a bounded
	// number so that they cannot grow the cache without end.
	if e.nfilter.Load() < maxCachedFilterParams && e.nfilter.Add(1) <= maxCachedFilterParams {
		e.filters.Store(key, fs)
	}
	return fs.filters, nil
}

// compileEntryCondition compiles {field: expression, ...} into a one-rule
// document that permits an entry when every field passes. The fields are
// the attributes entry:<field>; other attributes of the vocabulary stay
// usable as references ("<dstHyperty>").
func compileEntryCondition(attr string, cond any) (*pdl.Document, error) {
	fields, ok := cond.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: the entry condition must be an object of field to expression, not %s", attr, kindOf(cond))
	}
	c := make(map[string]any, len(fields))
	for f, expr := range fields {
		c[entryPrefix+f] = expr
	}
	src, err := json.Marshal(map[string]any{"effect": "permit", "condition": c})
	if err != nil {
		return nil, fmt.Errorf("%s: encode the entry condition: %w", attr, err)
	}
	opts := Options()
	opts.Known = func(name string) bool { return strings.HasPrefix(name, entryPrefix) || IsAttribute(name) }
	doc, err := pdl.Compile(opts, pdl.Source{Name: "obligation " + obligationFilter + "." + attr, Data: src})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", attr, err)
	}
	return doc, nil
}

// entryAttributes are the attributes of one entry under test: its fields
// as entry:<field>, and the message's attributes for references.
type entryAttributes struct {
	msg   *attributes
	entry any
}

// Attribute implements pdl.Attributes.
func (ea *entryAttributes) Attribute(name string) (any, error) {
	if f, ok := strings.CutPrefix(name, entryPrefix); ok {
		m, _ := ea.entry.(map[string]any)
		if m == nil {
			return nil, nil
		}
		return m[f], nil
	}
	return ea.msg.Attribute(name)
}

// keep reports whether entry passes f.
func (f *entryFilter) keep(a *attributes, entry any) (bool, error) {
	d := f.doc.Decide(&entryAttributes{msg: a, entry: entry})
	switch d.Effect {
	case pdl.Permit:
		return true, nil
	case pdl.Indeterminate:
		return false, fmt.Errorf("%s: %s", f.attr, d.Error)
	}
	return false, nil
}

// filter removes the entries that fail their condition from each named
// collection: keys of an object, elements of a list (keeping order).
// Without write it only compiles the conditions and checks the attributes.
func (e *Enforcer) filter(a *attributes, params any, write bool) error {
	fs, err := e.filtersFor(params)
	if err != nil {
		return err
	}
	for i := range fs {
		f := &fs[i]
		obj, key, err := a.slot(f.attr)
		if err != nil {
			return err
		}
		if obj == nil || !write {
			continue
		}
		switch v := obj[key].(type) {
		case map[string]any:
			// Judge every entry before deleting any, so that a failure
			// leaves the object whole.
			var drop []string
			for k, entry := range v {
				ok, err := f.keep(a, entry)
				if err != nil {
					return err
				}
				if !ok {
					drop = append(drop, k)
				}
			}
			for _, k := range drop {
				delete(v, k)
			}
		case []any:
			kept := v[:0:0]
			for _, entry := range v {
				ok, err := f.keep(a, entry)
				if err != nil {
					return err
				}
				if ok {
					kept = append(kept, entry)
				}
			}
			obj[key] = kept
		}
		a.refresh()
	}
	return nil
}
