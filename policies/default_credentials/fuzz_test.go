package defaultcredentials_test

import (
	"testing"

	defaultcredentials "github.com/verdict-policy/verdict/policies/default_credentials"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

// FuzzDefaultCredentials builds the policy from arbitrary configurations
// and runs arbitrary requests through it: a bad configuration must be an
// error and no request may make the policy panic. The seed corpus is
// under testdata/fuzz/FuzzDefaultCredentials.
func FuzzDefaultCredentials(f *testing.F) {
	f.Add(`{"auth_type": "user_key", "user_key": "k"}`, "GET", "/?user_key=", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, defaultcredentials.Name, config, method, target, header)
	})
}
