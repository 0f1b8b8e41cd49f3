package statuscodeoverwrite_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	statuscodeoverwrite "github.com/verdict-policy/verdict/policies/statuscode_overwrite"
)

// FuzzStatusCodeOverwrite builds the policy from arbitrary configurations and runs
// arbitrary requests through it: a bad configuration must be an error
// and no request may make the policy panic. The seed corpus is under
// testdata/fuzz/FuzzStatusCodeOverwrite.
func FuzzStatusCodeOverwrite(f *testing.F) {
	f.Add(`{}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, statuscodeoverwrite.Name, config, method, target, header)
	})
}
