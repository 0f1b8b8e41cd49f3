package tlsvalidation_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	tlsvalidation "github.com/verdict-policy/verdict/policies/tls_validation"
)

// FuzzTLSValidation builds the policy from arbitrary configurations and
// runs arbitrary requests (in clear: no certificate) through it: a bad
// configuration must be an error and no request may make it panic.
func FuzzTLSValidation(f *testing.F) {
	f.Add(`{"whitelist": [{"pem_certificate": "x"}]}`, "GET", "/", "")
	f.Add(`{"revocation_check_type": "crl", "revoke_list": [{}]}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, tlsvalidation.Name, config, method, target, header)
	})
}
