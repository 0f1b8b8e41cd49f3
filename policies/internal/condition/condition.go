// Package condition compiles the conditions that builtin chain policies
// share with APIcast (rate_limit, conditional, logging, maintenance_mode): a list of
// operations, each comparing a left and a right value with ==, != or
// matches, combined with and or or. Values are plain text or Liquid
// templates over the request; plain regular expressions are compiled when
// the chain is built. Its operators, combine_op and Pattern are also those
// of the routing and jwt_claim_check policies, so that matches means one
// thing everywhere.
package condition

import (
	"fmt"
	"regexp"

	"github.com/verdict-policy/verdict/chain"
)

// Spec is a condition as configured.
type Spec struct {
	// Operations are the comparisons; an empty list always holds.
	Operations []Operation `json:"operations"`
	// CombineOp is and (the default) or or.
	CombineOp string `json:"combine_op"`
}

// Operation compares two values.
type Operation struct {
	// Left is the first value compared; LeftType is plain (the default) or
	// liquid.
	Left     string `json:"left"`
	LeftType string `json:"left_type"`
	// Op is ==, != or matches (Right is an RE2 regular expression searched
	// in Left).
	Op string `json:"op"`
	// Right is the second value compared; RightType is plain (the default)
	// or liquid.
	Right     string `json:"right"`
	RightType string `json:"right_type"`
}

type operation struct {
	left, right *Value
	op          Op
	re          *regexp.Regexp // matches with a plain right value
}

// Condition is a compiled condition. The nil Condition always holds. A
// Condition is immutable and safe for concurrent use.
type Condition struct {
	ops []operation
	any bool
}

// Compile prepares s. Errors name the offending field relative to the
// condition, for example operations[1].op.
func Compile(s Spec) (*Condition, error) { return CompileNamed(s, "left", "right") }

// CompileNamed is Compile for a configuration whose operations call the
// left and right values by other names (APIcast's logging policy says
// match and value); errors use those names.
func CompileNamed(s Spec, left, right string) (*Condition, error) {
	c := &Condition{}
	var err error
	if c.any, err = ParseCombineOp(s.CombineOp); err != nil {
		return nil, fmt.Errorf("combine_op: %w", err)
	}
	for i, o := range s.Operations {
		op, err := compileOperation(o, left, right)
		if err != nil {
			return nil, fmt.Errorf("operations[%d].%w", i, err)
		}
		c.ops = append(c.ops, op)
	}
	return c, nil
}

func compileOperation(o Operation, left, right string) (operation, error) {
	var op operation
	var err error
	if op.op, err = ParseOp(o.Op); err != nil {
		return op, fmt.Errorf("op: %w", err)
	}
	if op.left, err = CompileValue(o.Left, o.LeftType); err != nil {
		return op, fmt.Errorf("%s: %w", left, err)
	}
	if op.right, err = CompileValue(o.Right, o.RightType); err != nil {
		return op, fmt.Errorf("%s: %w", right, err)
	}
	if op.op == OpMatches && op.right.IsPlain() {
		if op.re, err = regexp.Compile(o.Right); err != nil {
			return op, fmt.Errorf("%s: invalid regular expression %q: %w", right, o.Right, err)
		}
	}
	return op, nil
}

// Len returns the number of operations.
func (cd *Condition) Len() int {
	if cd == nil {
		return 0
	}
	return len(cd.ops)
}

// Mentions reports whether a template of the condition uses the variable
// name.
func (cd *Condition) Mentions(name string) bool {
	if cd == nil {
		return false
	}
	for i := range cd.ops {
		if cd.ops[i].left.Mentions(name) || cd.ops[i].right.Mentions(name) {
			return true
		}
	}
	return false
}

// Holds evaluates the condition for the request of c. A condition without
// operations holds.
func (cd *Condition) Holds(c *chain.Context) (bool, error) { return cd.HoldsWith(c, nil) }

// HoldsWith is Holds with extra template variables, which take precedence
// over the request's.
func (cd *Condition) HoldsWith(c *chain.Context, extra map[string]any) (bool, error) {
	if cd == nil || len(cd.ops) == 0 {
		return true, nil
	}
	for i := range cd.ops {
		ok, err := cd.ops[i].eval(c, extra)
		if err != nil {
			return false, fmt.Errorf("condition.operations[%d]: %w", i, err)
		}
		if ok == cd.any {
			// The first true operation decides or; the first false, and.
			return ok, nil
		}
	}
	return !cd.any, nil
}

func (o *operation) eval(c *chain.Context, extra map[string]any) (bool, error) {
	left, err := o.left.Render(c, extra)
	if err != nil {
		return false, err
	}
	right, err := o.right.Render(c, extra)
	if err != nil {
		return false, err
	}
	switch o.op {
	case OpEqual:
		return left == right, nil
	case OpNotEqual:
		return left != right, nil
	}
	re := o.re
	if re == nil {
		if re, err = Pattern(right); err != nil {
			return false, fmt.Errorf("right: rendered %w", err)
		}
	}
	return re.MatchString(left), nil
}
