package condition

import (
	"fmt"
	"regexp"
)

// Op is a comparison of APIcast's conditions: ==, != or matches.
type Op uint8

// The comparisons.
const (
	OpEqual Op = iota
	OpNotEqual
	OpMatches
)

// ParseOp reads an operator as configured. The error names the operators
// known.
func ParseOp(s string) (Op, error) {
	switch s {
	case "==":
		return OpEqual, nil
	case "!=":
		return OpNotEqual, nil
	case "matches":
		return OpMatches, nil
	}
	return 0, fmt.Errorf("unknown operator %q (want ==, != or matches)", s)
}

// ParseCombineOp reads a combine_op: and (also when empty) or or. It
// reports whether the operations combine with or.
func ParseCombineOp(s string) (or bool, err error) {
	switch s {
	case "", "and":
		return false, nil
	case "or":
		return true, nil
	}
	return false, fmt.Errorf("%q is neither and nor or", s)
}

// Pattern compiles re for the matches operator of every policy (routing,
// jwt_claim_check and the conditions of this package): as APIcast's
// ngx.re.match, it searches for re anywhere in a value, so "admin" matches
// "not-admin"; ^ and $ anchor it to the whole value. The error quotes re
// as configured.
func Pattern(re string) (*regexp.Regexp, error) {
	r, err := regexp.Compile(re)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid regular expression: %w", re, err)
	}
	return r, nil
}
