package keycloakrolecheck_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	keycloakrolecheck "github.com/verdict-policy/verdict/policies/keycloak_role_check"
)

// FuzzRoleCheck builds the policy from arbitrary configurations and runs
// arbitrary requests through it: a bad configuration must be an error and
// no request may make the policy panic.
func FuzzRoleCheck(f *testing.F) {
	f.Add(`{"scopes": [{"realm_roles": [{"name": "a"}], "resource": "/users/{id}$"}]}`, "GET", "/users/1", "")
	f.Add(`{"type": "blacklist", "scopes": [{"client_roles": [{"name": "r", "client": "{{ headers.x }}", "client_type": "liquid"}], "resource": "/{{ uri }}/{x}", "resource_type": "liquid"}]}`, "POST", "/a/b", "X: y")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, keycloakrolecheck.Name, config, method, target, header)
	})
}
