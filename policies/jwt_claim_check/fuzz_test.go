package jwtclaimcheck_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	jwtclaimcheck "github.com/verdict-policy/verdict/policies/jwt_claim_check"
)

// FuzzClaimCheck builds the policy from arbitrary configurations and runs
// arbitrary requests through it: a bad configuration must be an error and
// no request may make the policy panic. The seed corpus is under
// testdata/fuzz/FuzzClaimCheck.
func FuzzClaimCheck(f *testing.F) {
	f.Add(`{"rules": [{"resource": "/users/{id}", "operations": [{"op": "==", "jwt_claim": "sub", "value": "a"}]}]}`, "GET", "/users/1", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, jwtclaimcheck.Name, config, method, target, header)
	})
}
