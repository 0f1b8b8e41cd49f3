package pdl_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/verdict-policy/verdict/pdl"
)

// coverageDoc has a set whose target rules out half the inputs, a
// firstApplicable policy whose later rule is reached only when the first
// does not fire, and an indexed policy (four rules on msgType) whose rules
// are reached only for their own message type.
const coverageDoc = `- id: main
  target: {zone: {equals: inside}}
  policies:
    - id: first
      ruleCombiningAlgorithm: firstApplicable
      rules:
        - id: admins
          condition: {role: {equals: admin}}
          effect: permit
        - id: guests
          target: {role: {equals: guest}}
          condition: {hour: {lessThan: 18}}
          effect: permit
        - id: rest
          effect: deny
    - id: indexed
      rules:
        - {id: a, target: {msgType: {equals: a}}, effect: permit}
        - {id: b, target: {msgType: {equals: b}}, effect: permit}
        - {id: c, target: {msgType: {equals: c}}, effect: deny}
        - {id: d, target: {msgType: {equals: d}}, effect: deny}
`

func TestRules(t *testing.T) {
	doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "cov.yaml", Data: []byte(coverageDoc)})
	if err != nil {
		t.Fatal(err)
	}
	rules := doc.Rules()
	want := []pdl.RuleInfo{
		{ID: "admins", Path: "PolicySet main | Policy first | Rule admins", Effect: pdl.Permit, File: "cov.yaml", Line: 7, Column: 11, Where: "policySets[0].policies[0].rules[0]"},
		{ID: "guests", Path: "PolicySet main | Policy first | Rule guests", Effect: pdl.Permit, File: "cov.yaml", Line: 10, Column: 11, Where: "policySets[0].policies[0].rules[1]"},
		{ID: "rest", Path: "PolicySet main | Policy first | Rule rest", Effect: pdl.Deny, File: "cov.yaml", Line: 14, Column: 11, Where: "policySets[0].policies[0].rules[2]"},
		{ID: "a", Path: "PolicySet main | Policy indexed | Rule a", Effect: pdl.Permit, File: "cov.yaml", Line: 18, Column: 11, Where: "policySets[0].policies[1].rules[0]"},
		{ID: "b", Path: "PolicySet main | Policy indexed | Rule b", Effect: pdl.Permit, File: "cov.yaml", Line: 19, Column: 11, Where: "policySets[0].policies[1].rules[1]"},
		{ID: "c", Path: "PolicySet main | Policy indexed | Rule c", Effect: pdl.Deny, File: "cov.yaml", Line: 20, Column: 11, Where: "policySets[0].policies[1].rules[2]"},
		{ID: "d", Path: "PolicySet main | Policy indexed | Rule d", Effect: pdl.Deny, File: "cov.yaml", Line: 21, Column: 11, Where: "policySets[0].policies[1].rules[3]"},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("Rules:\n got %+v\nwant %+v", rules, want)
	}

	// Rules are listed in evaluation order, so priorities reorder them;
	// a JSON source gives its own positions.
	doc, err = pdl.Compile(pdl.Options{}, pdl.Source{Name: "p.json", Data: []byte(
		"[{\"id\": \"late\", \"priority\": 2, \"effect\": \"deny\"},\n {\"id\": \"early\", \"priority\": 1, \"effect\": \"permit\"}]")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range doc.Rules() {
		got = append(got, fmt.Sprintf("%s@%s:%d:%d %s", r.ID, r.File, r.Line, r.Column, r.Where))
	}
	if w := []string{"early@p.json:2:2 policySets[0].policies[0].rules[1]", "late@p.json:1:2 policySets[0].policies[0].rules[0]"}; !reflect.DeepEqual(got, w) {
		t.Errorf("prioritised Rules: got %q, want %q", got, w)
	}
}

func TestCoverage(t *testing.T) {
	doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "cov.yaml", Data: []byte(coverageDoc)})
	if err != nil {
		t.Fatal(err)
	}
	// Hits in the order of Rules: admins, guests, rest, a, b, c, d.
	tests := []struct {
		name   string
		inputs []string
		want   []pdl.RuleHits
	}{
		{"nothing explained", nil, make([]pdl.RuleHits, 7)},
		{"the set's target fails", []string{`{"zone": "outside", "role": "admin", "msgType": "a"}`}, make([]pdl.RuleHits, 7)},
		{"the first rule settles its policy", []string{`{"zone": "inside", "role": "admin"}`},
			[]pdl.RuleHits{{1, 1, 1}, {}, {}, {}, {}, {}, {}}},
		{"a target that fails, a rule that fires", []string{`{"zone": "inside", "role": "user"}`},
			[]pdl.RuleHits{{1, 1, 0}, {1, 0, 0}, {1, 1, 1}, {}, {}, {}, {}}},
		{"a condition that fails", []string{`{"zone": "inside", "role": "guest", "hour": 20}`},
			[]pdl.RuleHits{{1, 1, 0}, {1, 1, 0}, {1, 1, 1}, {}, {}, {}, {}}},
		{"the index reaches one rule", []string{`{"zone": "inside", "role": "guest", "hour": 9, "msgType": "c"}`},
			[]pdl.RuleHits{{1, 1, 0}, {1, 1, 1}, {}, {}, {}, {1, 1, 1}, {}}},
		{"counts add up", []string{
			`{"zone": "inside", "role": "admin", "msgType": "a"}`,
			`{"zone": "inside", "role": "admin", "msgType": "b"}`,
			`{"zone": "inside", "role": "user", "msgType": "zzz"}`},
			[]pdl.RuleHits{{3, 3, 2}, {1, 0, 0}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cov := doc.NewCoverage()
			for _, in := range tt.inputs {
				a := input(t, in)
				got, want := cov.Explain(a), doc.Explain(a)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: Coverage.Explain gave %+v, Explain %+v", in, got, want)
				}
				// Deciding does not count.
				doc.Decide(a)
			}
			if hits := cov.Hits(); !reflect.DeepEqual(hits, tt.want) {
				t.Errorf("hits:\n got %v\nwant %v", hits, tt.want)
			}
		})
	}
}
