package tlspolicy_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	tlspolicy "github.com/verdict-policy/verdict/policies/tls"
)

// FuzzTLS builds the policy from arbitrary configurations: a bad one must
// be an error, never a panic, and requests must pass through it.
func FuzzTLS(f *testing.F) {
	f.Add(`{"certificates": [{"certificate": "data:;base64,AAAA", "certificate_key": "x"}]}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, tlspolicy.Name, config, method, target, header)
	})
}
