package routing_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/routing"
)

// FuzzRouting builds the policy from arbitrary configurations and runs
// arbitrary requests through it: a bad configuration must be an error and
// no request may make the policy panic. The seed corpus is under
// testdata/fuzz/FuzzRouting.
func FuzzRouting(f *testing.F) {
	f.Add(`{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "matches", "value": "/v1/.*"}]}}]}`, "GET", "/v1/x", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, routing.Name, config, method, target, header)
	})
}
