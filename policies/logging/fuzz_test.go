package logging_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/logging"
)

// FuzzLogging builds the policy from arbitrary configurations and runs
// arbitrary requests through it: a bad configuration must be an error
// and no request may make the policy panic. The seed corpus is under
// testdata/fuzz/FuzzLogging.
func FuzzLogging(f *testing.F) {
	f.Add(`{}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, logging.Name, config, method, target, header)
	})
}
