package pdl_test

import (
	"fmt"
	"log"

	"github.com/verdict-policy/verdict/pdl"
)

// A document is compiled once, then decides many inputs. The first rule
// that applies decides here (firstApplicable); its obligations come with
// the decision.
func Example() {
	doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "api.yaml", Data: []byte(`
id: api
policies:
  - id: orders
    target: {path: {startsWith: /orders}}
    ruleCombiningAlgorithm: firstApplicable
    rules:
      - id: admins
        priority: 1
        condition: {role: {equals: admin}}
        effect: permit
        obligations: {audit: {level: full}}
      - id: readers
        priority: 2
        condition:
          anyOf:
            - {method: {in: [GET, HEAD]}}
            - {role: {equals: auditor}}
        effect: permit
      - id: others
        priority: 3
        effect: deny
        obligations: {status: 403}
`)})
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range []pdl.Input{
		{"path": "/orders/7", "method": "DELETE", "role": "admin"},
		{"path": "/orders/7", "method": "GET", "role": "user"},
		{"path": "/orders/7", "method": "POST", "role": "user"},
		{"path": "/health", "method": "GET"},
	} {
		d := doc.Decide(in)
		fmt.Printf("%s %s as %v: %s", in["method"], in["path"], in["role"], d.Effect)
		for _, o := range d.Obligations {
			fmt.Printf(", %s %v", o.Name, o.Params)
		}
		fmt.Println()
	}
	// Output:
	// DELETE /orders/7 as admin: permit, audit map[level:full]
	// GET /orders/7 as user: permit
	// POST /orders/7 as user: deny, status 403
	// GET /health as <nil>: not_applicable
}

// A load error names the file, the line and the JSON path of what is
// wrong, and the vocabulary of Options refuses attribute names it does
// not know.
func ExampleCompile_problems() {
	known := map[string]bool{"method": true, "path": true}
	_, err := pdl.Compile(pdl.Options{Known: func(name string) bool { return known[name] }},
		pdl.Source{Name: "rules.json", Data: []byte(`[
  {"condition": {"mehtod": {"equals": "GET"}}, "effect": "permit"},
  {"condition": {"path": {"startWith": "/a"}}, "effect": "deny"}
]`)})
	fmt.Println(err)
	// Output:
	// rules.json:2:18: policySets[0].policies[0].rules[0].condition.mehtod: unknown attribute "mehtod"
	// rules.json:3:27: policySets[0].policies[0].rules[1].condition.path.startWith: unknown operator "startWith" (known: equals, moreThan, lessThan, atLeast, atMost, in, contains, between, like, exists, matches, startsWith, endsWith, inCIDR, and anyOf, allOf, not)
}
