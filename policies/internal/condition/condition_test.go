package condition_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/condition"
)

func op(left, leftType, o, right, rightType string) condition.Operation {
	return condition.Operation{Left: left, LeftType: leftType, Op: o, Right: right, RightType: rightType}
}

func TestHolds(t *testing.T) {
	isAB := op("{{ uri }}", "liquid", "==", "/a/b", "")
	tests := []struct {
		name string
		spec condition.Spec
		want bool
	}{
		{"no operations", condition.Spec{}, true},
		{"== holds", condition.Spec{Operations: []condition.Operation{isAB}}, true},
		{"== fails", condition.Spec{Operations: []condition.Operation{op("{{ uri }}", "liquid", "==", "/a", "")}}, false},
		{"!= holds", condition.Spec{Operations: []condition.Operation{op("{{ http_method }}", "liquid", "!=", "POST", "")}}, true},
		{"matches is unanchored", condition.Spec{Operations: []condition.Operation{op("{{ uri }}", "liquid", "matches", "a/", "")}}, true},
		{"matches with a Liquid pattern", condition.Spec{Operations: []condition.Operation{op("{{ uri }}", "liquid", "matches", "^{{ headers['X-P'] }}", "liquid")}}, true},
		{"matches fails", condition.Spec{Operations: []condition.Operation{op("{{ uri }}", "liquid", "matches", "^/b", "")}}, false},
		{"plain operands", condition.Spec{Operations: []condition.Operation{op("x", "", "==", "x", "plain")}}, true},
		{"and: one false", condition.Spec{Operations: []condition.Operation{isAB, op("a", "", "==", "b", "")}}, false},
		{"or: one true", condition.Spec{CombineOp: "or", Operations: []condition.Operation{op("a", "", "==", "b", ""), isAB}}, true},
		{"or: none true", condition.Spec{CombineOp: "or", Operations: []condition.Operation{op("a", "", "==", "b", ""), op("c", "", "==", "d", "")}}, false},
		{"a missing header renders empty", condition.Spec{Operations: []condition.Operation{op("{{ headers['X-None'] }}", "liquid", "==", "", "")}}, true},
		{"an unknown filter renders empty", condition.Spec{Operations: []condition.Operation{op("{{ uri | bogus }}", "liquid", "==", "", "")}}, true},
		{"an unclosed output renders empty", condition.Spec{Operations: []condition.Operation{op("{{ uri }", "liquid", "!=", "{{ uri }", "")}}, true},
		{"an invalid pattern renders empty and matches", condition.Spec{Operations: []condition.Operation{op("{{ uri }}", "liquid", "matches", "{{ x", "liquid")}}, true},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/a/b", nil)
	r.Header.Set("X-P", "/a")
	c := chain.NewContext(r, "192.0.2.1", nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cd, err := condition.Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cd.Holds(c)
			if err != nil || got != tt.want {
				t.Errorf("Holds = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	var none *condition.Condition
	if ok, err := none.Holds(c); !ok || err != nil {
		t.Errorf("a nil condition: %v %v", ok, err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		spec condition.Spec
		want string
	}{
		{condition.Spec{CombineOp: "xor"}, "combine_op"},
		{condition.Spec{Operations: []condition.Operation{op("a", "", "<", "b", "")}}, "operations[0].op: unknown operator"},
		{condition.Spec{Operations: []condition.Operation{uri(), op("a", "", "matches", "(", "")}}, "operations[1].right: invalid regular expression"},
		{condition.Spec{Operations: []condition.Operation{op("a", "json", "==", "b", "")}}, "operations[0].left: unknown value type"},
	}
	for _, tt := range tests {
		_, err := condition.Compile(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want one mentioning %q", err, tt.want)
		}
	}
	_, err := condition.CompileNamed(condition.Spec{Operations: []condition.Operation{op("a", "", "matches", "(", "")}}, "match", "value")
	if err == nil || !strings.Contains(err.Error(), "operations[0].value:") {
		t.Errorf("named error %v", err)
	}
	// A pattern that only exists once rendered is checked per request.
	cd, err := condition.Compile(condition.Spec{Operations: []condition.Operation{op("a", "", "matches", "{{ headers['X'] }}", "liquid")}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://api.example.com/", nil)
	r.Header.Set("X", "(")
	if _, err := cd.Holds(chain.NewContext(r, "", nil, nil)); err == nil || !strings.Contains(err.Error(), "condition.operations[0]: right: rendered") {
		t.Errorf("rendered pattern error %v", err)
	}
}

func uri() condition.Operation { return op("{{ uri }}", "liquid", "==", "/", "") }
