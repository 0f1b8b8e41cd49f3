package keycloakrolecheck_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	keycloakrolecheck "github.com/verdict-policy/verdict/policies/keycloak_role_check"
)

// claimsStub shares fixed claims, standing in for the jwt policy.
type claimsStub struct{}

func (claimsStub) Rewrite(c *chain.Context) error {
	c.Set("jwt", keycloakClaims)
	return nil
}

func init() {
	chain.Register(chain.Factory{Name: "bench_keycloak_claims", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return claimsStub{}, nil }})
}

func BenchmarkRoleCheck(b *testing.B) {
	cases := []struct{ name, config string }{
		{"claims only", ""},
		{"realm role", `{"scopes": [{"realm_roles": [{"name": "role2"}], "resource": "/orders/{id}"}]}`},
		{"third scope, client role", `{"scopes": [{"resource": "/admin"}, {"resource": "/x", "methods": ["POST"]}, {"client_roles": [{"name": "reader", "client": "app"}], "resource": "/orders/{id}$"}]}`},
		{"liquid client and resource", `{"scopes": [{"client_roles": [{"name": "reader", "client": "{{ jwt.aud }}", "client_type": "liquid"}], "resource": "/orders/{{ jwt.sub }}", "resource_type": "liquid"}]}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/orders/42", nil)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			entries := []chain.Entry{policytest.Entry("bench_keycloak_claims", "")}
			if bc.config != "" {
				entries = append(entries, policytest.Entry(keycloakrolecheck.Name, bc.config))
			}
			ch := policytest.Build(b, entries...)
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
