package defaultcredentials_test

import (
	"net/http/httptest"
	"testing"

	defaultcredentials "github.com/verdict-policy/verdict/policies/default_credentials"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

func BenchmarkDefaultCredentials(b *testing.B) {
	ch := policytest.Build(b, policytest.Entry(defaultcredentials.Name, `{"auth_type": "user_key", "user_key": "anonymous"}`))
	for _, bc := range []struct{ name, target string }{
		{"without credentials", "/items?a=1"},
		{"with a user_key", "/items?a=1&user_key=k"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			policytest.Benchmark(b, ch, httptest.NewRequest("GET", "http://api.example.com"+bc.target, nil), 200, nil, nil)
		})
	}
}
