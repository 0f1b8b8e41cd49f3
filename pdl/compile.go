package pdl

import "errors"

// Document is a compiled policy document: immutable and safe for concurrent use.
type Document struct {
	sets, policies, rules int
}

// Compile parses, validates and compiles the sources into one document;
// their policy sets are concatenated in order. Every problem found is
// reported, as a *LoadError.
func Compile(opts Options, srcs ...Source) (*Document, error) {
	return nil, errors.New("pdl: compile is being written")
}

// Decide evaluates the document against a.
func (d *Document) Decide(a Attributes) Decision { return Decision{Effect: Indeterminate} }

// Explain is Decide with a trace of every target, condition, comparison and combining step.
func (d *Document) Explain(a Attributes) Decision { return Decision{Effect: Indeterminate} }

// Counts returns how many policy sets, policies and rules d holds.
func (d *Document) Counts() (sets, policies, rules int) { return d.sets, d.policies, d.rules }
