package tokenintrospection_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

// BenchmarkCachedToken measures a request whose token's answer is cached:
// the common case once a client is known.
func BenchmarkCachedToken(b *testing.B) {
	p := startIdP(b)
	p.answer("tok", fmt.Sprintf(`{"active": true, "exp": %d}`, time.Now().Add(time.Hour).Unix()))
	ch := policytest.Build(b, policytest.Entry("token_introspection",
		`{"auth_type": "client_id+client_secret", "client_id": "a", "client_secret": "b", "introspection_url": "`+p.URL+`", "max_cached_tokens": 100, "max_ttl_tokens": 3600}`))
	r := httptest.NewRequest("GET", "http://api.test/items", nil)
	r.Header.Set("Authorization", "Bearer tok")
	policytest.Benchmark(b, ch, r, 200, nil, nil)
	if n := p.calls.Load(); n != 1 {
		b.Fatalf("%d introspections, want 1", n)
	}
}
