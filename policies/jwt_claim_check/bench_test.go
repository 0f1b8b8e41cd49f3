package jwtclaimcheck_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	jwtclaimcheck "github.com/verdict-policy/verdict/policies/jwt_claim_check"
)

// claimsStub shares fixed claims, standing in for the jwt policy.
type claimsStub struct{}

func (claimsStub) Rewrite(c *chain.Context) error {
	c.Set("jwt", benchClaims)
	return nil
}

var benchClaims = map[string]any{"sub": "alice", "roles": []any{"reader", "admin"}, "org": map[string]any{"id": "o-1"}}

func init() {
	chain.Register(chain.Factory{Name: "bench_claims", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return claimsStub{}, nil }})
}

func BenchmarkClaimCheck(b *testing.B) {
	cases := []struct{ name, config string }{
		{"claims only", ""},
		{"rule does not apply", `{"rules": [{"resource": "/admin", "methods": ["POST"], "operations": [{"op": "==", "jwt_claim": "roles", "value": "admin"}]}]}`},
		{"list claim ==", `{"rules": [{"resource": "/orders", "operations": [{"op": "==", "jwt_claim": "roles", "value": "admin"}]}]}`},
		{"nested claim matches", `{"rules": [{"resource": "/orders/{id}", "operations": [{"op": "matches", "jwt_claim": "org.id", "value": "o-[0-9]+"}]}]}`},
		{"liquid claim", `{"rules": [{"resource": "/orders", "operations": [{"op": "==", "jwt_claim": "{{ sub }}", "jwt_claim_type": "liquid", "value": "alice"}]}]}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/orders/42", nil)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			entries := []chain.Entry{policytest.Entry("bench_claims", "")}
			if bc.config != "" {
				entries = append(entries, policytest.Entry(jwtclaimcheck.Name, bc.config))
			}
			policytest.Benchmark(b, policytest.Build(b, entries...), r, 200, nil, nil)
		})
	}
}
