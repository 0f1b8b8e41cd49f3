package pdl

// RuleInfo describes one rule of a compiled document: how decisions name
// it and where it was written.
type RuleInfo struct {
	// ID is the rule's id, or its position when it has none.
	ID string `json:"id"`
	// Path is the deciding path a decision by this rule carries, e.g.
	// "PolicySet 1 | Policy 2 | Rule limit".
	Path string `json:"path"`
	// Effect is what the rule gives when its condition holds.
	Effect Effect `json:"effect"`
	// File, Line and Column locate the rule in its source.
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Where is the JSON path of the rule in the document, as load errors
	// name it, e.g. policySets[0].policies[1].rules[2].
	Where string `json:"where"`
}

// Rules returns every rule of d in evaluation order: set by set, policy by
// policy, each level in ascending priority.
func (d *Document) Rules() []RuleInfo {
	out := make([]RuleInfo, 0, d.nrules)
	for _, sp := range d.sets {
		for _, p := range sp.policies {
			for _, r := range p.rules {
				out = append(out, RuleInfo{ID: r.id, Path: r.path, Effect: r.effect,
					File: r.file, Line: r.line, Column: r.col, Where: r.where})
			}
		}
	}
	return out
}

// RuleHits counts what happened to one rule over the decisions a Coverage
// explained.
type RuleHits struct {
	// Reached counts the decisions that evaluated the rule's target. A
	// rule is not reached when an enclosing target does not hold, when the
	// index rules it out, or when an earlier rule settles the combination.
	Reached int `json:"reached"`
	// Applied counts the decisions in which the target held, so that the
	// condition was evaluated.
	Applied int `json:"applied"`
	// Fired counts the decisions in which the condition held too, so that
	// the rule gave its effect to its policy's combining algorithm.
	Fired int `json:"fired"`
}

// Coverage records, over many explained decisions, which rules of one
// document were reached, applied and fired: what a test suite needs to
// tell the rules no case exercises. It counts through the explanation
// trace, so Decide pays nothing for it. A Coverage is not safe for
// concurrent use.
type Coverage struct {
	doc  *Document
	hits []RuleHits
}

// NewCoverage returns an empty Coverage of d.
func (d *Document) NewCoverage() *Coverage {
	return &Coverage{doc: d, hits: make([]RuleHits, d.nrules)}
}

// Explain is Document.Explain that also counts, per rule, what the
// decision did with it.
func (c *Coverage) Explain(a Attributes) Decision {
	d := c.doc
	s := d.acquire(a)
	trace := []Step{}
	s.trace = &trace
	s.cover = c.hits
	dec := d.decide(s)
	dec.Trace = trace
	s.cover = nil // here rather than in release, which Decide runs too
	d.release(s)
	return dec
}

// Hits returns the counts of every rule, aligned with Document.Rules.
func (c *Coverage) Hits() []RuleHits {
	out := make([]RuleHits, len(c.hits))
	copy(out, c.hits)
	return out
}
