package conditional_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/conditional"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

// FuzzConditional builds the policy from arbitrary configurations and
// runs arbitrary requests through it: a bad configuration must be an
// error and no request may make the policy panic. The seed corpus is
// under testdata/fuzz/FuzzConditional.
func FuzzConditional(f *testing.F) {
	f.Add(`{"condition": {"operations": [{"left": "a", "op": "==", "right": "a"}]}, "policy_chain": [{"name": "echo"}]}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, conditional.Name, config, method, target, header)
	})
}
