package cors_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/cors"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

func BenchmarkCORS(b *testing.B) {
	const cfg = `{"allow_origin": "https://(app|admin)\\.example\\.com", "allow_methods": ["GET", "POST"], "allow_headers": ["X-Custom"]}`
	actual := httptest.NewRequest("GET", "http://api.example.com/items", nil)
	actual.Header.Set("Origin", "https://app.example.com")
	preflight := httptest.NewRequest("OPTIONS", "http://api.example.com/items", nil)
	preflight.Header.Set("Origin", "https://app.example.com")
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	plain := httptest.NewRequest("GET", "http://api.example.com/items", nil)
	cases := []struct {
		name   string
		config string
		r      *http.Request
	}{
		{"empty chain", "", actual},
		{"no origin", cfg, plain},
		{"actual request, regex origin", cfg, actual},
		{"actual request, any origin", `{}`, actual},
		{"preflight", cfg, preflight},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(cors.Name, bc.config))
			}
			policytest.Benchmark(b, ch, bc.r, 200, http.Header{"Content-Type": {"application/json"}}, nil)
		})
	}
}
