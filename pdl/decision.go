package pdl

import (
	"encoding/json"
	"fmt"
)

// Effect is the outcome of a decision.
type Effect uint8

// The four outcomes of a decision. The zero value is NotApplicable.
const (
	// NotApplicable means no rule applied; the caller chooses a default.
	NotApplicable Effect = iota
	// Permit means the deciding rule's effect was permit.
	Permit
	// Deny means the deciding rule's effect was deny.
	Deny
	// Indeterminate means evaluation failed; callers treat it as deny.
	Indeterminate
)

var effectNames = [...]string{"not_applicable", "permit", "deny", "indeterminate"}

// String returns the wire name of e: permit, deny, not_applicable or indeterminate.
func (e Effect) String() string {
	if int(e) < len(effectNames) {
		return effectNames[e]
	}
	return fmt.Sprintf("effect(%d)", uint8(e))
}

// MarshalText encodes e as its wire name.
func (e Effect) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText decodes a wire name. The JACPoL spelling notApplicable is accepted too.
func (e *Effect) UnmarshalText(b []byte) error {
	switch string(b) {
	case "permit":
		*e = Permit
	case "deny":
		*e = Deny
	case "not_applicable", "notApplicable":
		*e = NotApplicable
	case "indeterminate":
		*e = Indeterminate
	default:
		return fmt.Errorf("unknown decision %q", b)
	}
	return nil
}

// Obligation is a named action the enforcement point is asked to carry out,
// or, when returned in Decision.Advice, a piece of advice it may ignore.
type Obligation struct {
	Name   string `json:"name"`
	Params any    `json:"params"`
}

// Decision is the result of deciding one input against a Document.
//
// Obligations and Advice are collected in the order rule, policy, policy
// set. They may share backing arrays with the compiled document: callers
// must not modify them.
type Decision struct {
	Effect      Effect       `json:"decision"`
	Obligations []Obligation `json:"obligations"`
	Advice      []Obligation `json:"advice"`
	// Path names the deciding elements, e.g. "PolicySet 1 | Policy 2 | Rule 3".
	Path string `json:"path"`
	// Error says why the decision is Indeterminate.
	Error string `json:"error,omitempty"`
	// Trace is filled by Document.Explain only.
	Trace []Step `json:"trace,omitempty"`
}

// MarshalJSON writes empty lists as [] rather than null.
func (d Decision) MarshalJSON() ([]byte, error) {
	type plain Decision
	p := plain(d)
	if p.Obligations == nil {
		p.Obligations = []Obligation{}
	}
	if p.Advice == nil {
		p.Advice = []Obligation{}
	}
	return json.Marshal(p)
}

// Step is one entry of an explanation trace.
type Step struct {
	// Path names the element, e.g. "PolicySet 1 | Policy 2".
	Path string `json:"path"`
	// Kind is one of select, target, condition, compare, rule, policy, set.
	Kind string `json:"kind"`
	// Where is the JSON path of the expression in the document, for target,
	// condition and compare steps.
	Where string `json:"where,omitempty"`
	// Attribute, Operator, Value and Param describe a compare step.
	Attribute string `json:"attribute,omitempty"`
	Operator  string `json:"operator,omitempty"`
	Value     any    `json:"value,omitempty"`
	Param     any    `json:"param,omitempty"`
	// Result is "true" or "false" for tests, or a decision for combining steps.
	Result string `json:"result"`
	// Detail adds free text, e.g. the combining algorithm.
	Detail string `json:"detail,omitempty"`
}
