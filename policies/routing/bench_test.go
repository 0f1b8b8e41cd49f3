package routing_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/routing"
)

func BenchmarkRouting(b *testing.B) {
	cases := []struct{ name, config string }{
		{"empty chain", ""},
		{"no rule holds", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "==", "value": "/other"}]}}, {"url": "http://b.test", "condition": {"operations": [{"match": "header", "header_name": "X-Channel", "op": "==", "value": "beta"}]}}]}`},
		{"header ==", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "header", "header_name": "X-Channel", "op": "==", "value": "stable"}]}}]}`},
		{"path matches and query arg", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "matches", "value": "/v1/.*"}, {"match": "query_arg", "query_arg_name": "tier", "op": "==", "value": "gold"}]}}]}`},
		{"liquid replace_path", `{"rules": [{"url": "http://a.test/v2", "replace_path": "{{ uri | remove_first: '/v1' }}"}]}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/v1/items?a=1&tier=gold", nil)
	r.Header.Set("X-Channel", "stable")
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(routing.Name, bc.config))
			}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
