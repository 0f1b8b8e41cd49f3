package ratelimit_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	ratelimit "github.com/verdict-policy/verdict/policies/rate_limit"
)

// FuzzRateLimit builds the policy from arbitrary configurations and runs
// arbitrary requests through it: a bad configuration must be an error
// and no request may make the policy panic. The seed corpus is under
// testdata/fuzz/FuzzRateLimit.
func FuzzRateLimit(f *testing.F) {
	f.Add(`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1}]}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, ratelimit.Name, config, method, target, header)
	})
}
