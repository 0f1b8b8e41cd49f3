package pdl

import (
	"fmt"
)

// state is the scratch space of one decision: the attribute values read so
// far, the first error, and the trace when explaining. States are pooled
// per document, so a decision allocates nothing of its own.
type state struct {
	doc   *Document
	attrs Attributes
	vals  []any
	gen   []uint32 // vals[i] is current when gen[i] == cur
	cur   uint32
	err   error
	trace *[]Step
	at    string // the element being evaluated, when explaining
	// cover counts, per rule, what happened to it; set by Coverage.Explain
	// only, and read only where the trace is, so Decide never looks at it.
	cover []RuleHits
}

// get returns the value of attribute slot i, asking the Attributes at most
// once per decision.
func (s *state) get(i int) any {
	if s.gen[i] == s.cur {
		return s.vals[i]
	}
	v, err := s.attrs.Attribute(s.doc.attrNames[i])
	if err != nil {
		if s.err == nil {
			s.err = fmt.Errorf("attribute %s: %w", s.doc.attrNames[i], err)
		}
		v = nil
	}
	s.vals[i], s.gen[i] = v, s.cur
	return v
}

func (s *state) step(st Step) { *s.trace = append(*s.trace, st) }

func (d *Document) acquire(a Attributes) *state {
	s := d.states.Get().(*state)
	s.attrs = a
	s.cur++
	if s.cur == 0 { // wrapped: forget every slot
		clear(s.gen)
		s.cur = 1
	}
	return s
}

func (d *Document) release(s *state) {
	s.attrs, s.err, s.trace, s.at = nil, nil, nil, ""
	clear(s.vals)
	d.states.Put(s)
}

// Decide evaluates the document against a.
func (d *Document) Decide(a Attributes) Decision {
	s := d.acquire(a)
	dec := d.decide(s)
	d.release(s)
	return dec
}

// Explain is Decide with a trace of every target, condition, comparison and
// combining step.
func (d *Document) Explain(a Attributes) Decision {
	s := d.acquire(a)
	trace := []Step{}
	s.trace = &trace
	dec := d.decide(s)
	dec.Trace = trace
	d.release(s)
	return dec
}

// result is a combining result: an effect and the rule that decided it.
type result struct {
	effect Effect
	rule   *rule
}

func (d *Document) decide(s *state) Decision {
	for _, i := range d.setIndex.candidates(s) {
		sp := d.sets[i]
		if s.trace != nil {
			s.at = sp.path
		}
		ok := holds(s, sp.target)
		if s.trace != nil {
			s.step(Step{Path: sp.path, Kind: "select", Result: boolText(ok)})
		}
		if s.err != nil {
			return d.indeterminate(s, sp.path)
		}
		if !ok {
			continue
		}
		r := sp.combine(s)
		if s.err != nil {
			return d.indeterminate(s, sp.path)
		}
		if s.trace != nil {
			s.step(Step{Path: sp.path, Kind: "set", Result: r.effect.String(), Detail: sp.alg.String()})
		}
		if r.rule == nil {
			return Decision{Effect: NotApplicable, Path: sp.path}
		}
		return d.decision(s, r)
	}
	if s.err != nil {
		return d.indeterminate(s, "")
	}
	return Decision{Effect: NotApplicable}
}

func holds(s *state, c cond) bool { return c == nil || c(s) }

func (d *Document) indeterminate(s *state, path string) Decision {
	return Decision{Effect: Indeterminate, Path: path, Error: s.err.Error()}
}

// decision builds the decision of rule r, rendering templates if it has any.
func (d *Document) decision(s *state, r result) Decision {
	out := &r.rule.out
	if out.dynamic == nil {
		return Decision{Effect: r.effect, Obligations: out.obligations, Advice: out.advice, Path: out.path}
	}
	dec := Decision{Effect: r.effect, Path: out.path}
	for _, ob := range out.dynamic {
		params := ob.params
		if ob.dynamic {
			var err error
			if params, err = render(s, params); err != nil {
				s.err = fmt.Errorf("obligation %s: %w", ob.name, err)
				return d.indeterminate(s, out.path)
			}
		}
		o := Obligation{Name: ob.name, Params: params}
		if d.advice[ob.name] {
			dec.Advice = append(dec.Advice, o)
		} else {
			dec.Obligations = append(dec.Obligations, o)
		}
	}
	return dec
}

// combiner folds child results by one algorithm.
type combiner struct {
	alg                algorithm
	firstPermit, first result
}

// add takes one child result and reports whether the outcome is settled.
func (c *combiner) add(r result) bool {
	switch {
	case r.rule == nil:
		return false
	case c.alg == firstApplicable:
		c.first = r
		return true
	case c.alg == blockOverrides && r.effect == Deny, c.alg == allowOverrides && r.effect == Permit:
		c.first = r
		return true
	case c.firstPermit.rule == nil:
		c.firstPermit = r // the first result of the other effect
	}
	return false
}

func (c *combiner) result() result {
	if c.first.rule != nil {
		return c.first
	}
	return c.firstPermit
}

func (sp *policySet) combine(s *state) result {
	cb := combiner{alg: sp.alg}
	for _, i := range sp.index.candidates(s) {
		p := sp.policies[i]
		if s.trace != nil {
			s.at = p.path
		}
		ok := holds(s, p.target)
		if s.trace != nil {
			s.step(Step{Path: p.path, Kind: "target", Result: boolText(ok)})
		}
		if s.err != nil {
			return result{}
		}
		if !ok {
			continue
		}
		r := p.combine(s)
		if s.err != nil {
			return result{}
		}
		if s.trace != nil {
			s.step(Step{Path: p.path, Kind: "policy", Result: r.effect.String(), Detail: p.alg.String()})
		}
		if cb.add(r) {
			break
		}
	}
	return cb.result()
}

func (p *policy) combine(s *state) result {
	cb := combiner{alg: p.alg}
	for _, i := range p.index.candidates(s) {
		r := p.rules[i]
		if s.trace != nil {
			s.at = r.path
		}
		ok := holds(s, r.target)
		if s.trace != nil {
			s.step(Step{Path: r.path, Kind: "target", Result: boolText(ok)})
			if s.cover != nil {
				s.cover[r.index].Reached++
				if ok {
					s.cover[r.index].Applied++
				}
			}
		}
		if s.err != nil {
			return result{}
		}
		if !ok {
			continue
		}
		ok = holds(s, r.condition)
		if s.trace != nil {
			s.step(Step{Path: r.path, Kind: "condition", Result: boolText(ok)})
			if s.cover != nil && ok && s.err == nil {
				s.cover[r.index].Fired++
			}
		}
		if s.err != nil {
			return result{}
		}
		if !ok {
			if s.trace != nil {
				s.step(Step{Path: r.path, Kind: "rule", Result: NotApplicable.String()})
			}
			continue
		}
		if s.trace != nil {
			s.step(Step{Path: r.path, Kind: "rule", Result: r.effect.String()})
		}
		if cb.add(result{effect: r.effect, rule: r}) {
			break
		}
	}
	return cb.result()
}
