package rewriteurlcaptures_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	rewriteurlcaptures "github.com/verdict-policy/verdict/policies/rewrite_url_captures"
)

// FuzzRewriteURLCaptures builds the policy from arbitrary configurations
// and runs arbitrary requests through it: a bad configuration must be an
// error and no request may make the policy panic. The seed corpus is
// under testdata/fuzz/FuzzRewriteURLCaptures.
func FuzzRewriteURLCaptures(f *testing.F) {
	f.Add(`{}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, rewriteurlcaptures.Name, config, method, target, header)
	})
}
